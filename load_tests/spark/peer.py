"""The Spark peer of the load test: the original pipeline's Structured Streaming job
(streamify's spark_streaming/stream_all_events.py), written again for the comparison in
load_tests/load_test. It is faithful on purpose, defects included:

- the schemas are the original's: `sessionid` in lower case (eventsim writes
  `sessionId`, and from_json matches names case-sensitively) and `zip` as an integer
  (eventsim writes it as a string): both columns are NULL in every row;
- the song/artist repair is the original's Python UDF (latin-1 -> unicode-escape ->
  latin-1 -> UTF-8, then strip quotes), evaluated row by row in Python workers
  (except that it no longer kills the query on strings it cannot decode: see
  string_decode);
- `ts` (epoch ms) becomes a timestamp, with year/month/day/hour derived from it, and
  each topic is written as Parquet partitioned by month/day/hour with its own
  checkpoint, on a processing-time trigger (120 s in the original).

The original streamed three topics; status_change_events gets a schema in the same
style (the same two defects) so that the peer reads what musicaly reads.

    spark-submit --master local[2] --jars ... peer.py --brokers 127.0.0.1:9092 \
        --topics p.listen_events,p.page_view_events --output DIR --checkpoint DIR \
        [--trigger-secs 120]
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, dayofmonth, from_json, hour, month, udf, year
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)


def _common():
    """The user/location fields every table of the original's schemas shares."""
    return [
        StructField("ts", LongType(), True),
        StructField("sessionid", IntegerType(), True),
        StructField("auth", StringType(), True),
        StructField("level", StringType(), True),
        StructField("itemInSession", IntegerType(), True),
        StructField("city", StringType(), True),
        StructField("zip", IntegerType(), True),
        StructField("state", StringType(), True),
        StructField("userAgent", StringType(), True),
        StructField("lon", DoubleType(), True),
        StructField("lat", DoubleType(), True),
        StructField("userId", IntegerType(), True),
        StructField("lastName", StringType(), True),
        StructField("firstName", StringType(), True),
        StructField("gender", StringType(), True),
        StructField("registration", LongType(), True),
    ]


SCHEMAS = {
    "listen_events": StructType(
        [
            StructField("artist", StringType(), True),
            StructField("song", StringType(), True),
            StructField("duration", DoubleType(), True),
        ]
        + _common()
    ),
    "page_view_events": StructType(
        _common()
        + [
            StructField("page", StringType(), True),
            StructField("method", StringType(), True),
            StructField("status", IntegerType(), True),
            StructField("artist", StringType(), True),
            StructField("song", StringType(), True),
            StructField("duration", DoubleType(), True),
        ]
    ),
    "auth_events": StructType(_common() + [StructField("success", BooleanType(), True)]),
    "status_change_events": StructType(_common()),
}


@udf
def string_decode(s, encoding="utf-8"):
    """The original's repair of eventsim's song and artist strings.

    The one deviation from the original: it raised on strings that are not
    mojibake (a plain Latin-1 "ñ" is not valid UTF-8 once encoded back), which
    fails the task and terminates the query on the first such song; eventsim's
    catalogue has them, so the original job could not have run on this input.
    The peer returns those strings unchanged instead."""
    if s:
        try:
            return (
                s.encode("latin1")  # to bytes, required by 'unicode-escape'
                .decode("unicode-escape")  # the actual octal-escaping decode
                .encode("latin1")  # 1:1 mapping back to bytes
                .decode(encoding)  # decode the original encoding
                .strip('"')
            )
        except UnicodeError:
            return s
    return s


def table_of(topic):
    """`<prefix>.listen_events` and `listen_events` are both the listen table."""
    name = topic.rsplit(".", 1)[-1]
    if name not in SCHEMAS:
        raise SystemExit(f"topic {topic}: the table name must be one of {sorted(SCHEMAS)}")
    return name


def process_stream(stream, schema, table):
    stream = (
        stream.selectExpr("CAST(value AS STRING)")
        .select(from_json(col("value"), schema).alias("data"))
        .select("data.*")
    )
    stream = (
        stream.withColumn("ts", (col("ts") / 1000).cast("timestamp"))
        .withColumn("year", year(col("ts")))
        .withColumn("month", month(col("ts")))
        .withColumn("hour", hour(col("ts")))
        .withColumn("day", dayofmonth(col("ts")))
    )
    if table in ("listen_events", "page_view_events"):
        stream = stream.withColumn("song", string_decode("song")).withColumn(
            "artist", string_decode("artist")
        )
    return stream


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True, help="Kafka bootstrap servers, HOST:PORT")
    p.add_argument("--topics", required=True, help="comma-separated topics, each named after its table")
    p.add_argument("--output", required=True, help="lake root: one Parquet table per topic below it")
    p.add_argument("--checkpoint", required=True, help="checkpoint root: one per topic below it")
    p.add_argument("--trigger-secs", type=float, default=120.0, help="processing-time trigger (original: 120)")
    a = p.parse_args()

    spark = SparkSession.builder.appName("musicaly-spark-peer").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    for topic in [t for t in a.topics.split(",") if t]:
        table = table_of(topic)
        stream = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", a.brokers)
            .option("failOnDataLoss", False)
            .option("startingOffsets", "earliest")
            .option("subscribe", topic)
            .load()
        )
        stream = process_stream(stream, SCHEMAS[table], table)
        (
            stream.writeStream.format("parquet")
            .partitionBy("month", "day", "hour")
            .option("path", f"{a.output}/{table}")
            .option("checkpointLocation", f"{a.checkpoint}/{table}")
            .trigger(processingTime=f"{int(a.trigger_secs * 1000)} milliseconds")
            .outputMode("append")
            .start()
        )
    spark.streams.awaitAnyTermination()


if __name__ == "__main__":
    main()
