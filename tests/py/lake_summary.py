"""Summarises a musicaly lake, independently of musicaly: every Parquet file's path
(relative to the lake), size, and row count as pyarrow reads it.

    lake_summary.py DIR                          a lake on local disk
    lake_summary.py --gcs URL BUCKET PREFIX      a lake on a GCS emulator (JSON API)
    lake_summary.py --s3 URL BUCKET PREFIX       a lake on an S3 endpoint (boto3)

Prints one JSON object {relative_path: [bytes, rows]} so tests can compare lakes.
"""
import io
import json
import os
import sys
import urllib.parse
import urllib.request

import pyarrow.parquet as pq


def local(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".parquet"):
                p = os.path.join(d, f)
                rel = os.path.relpath(p, root).replace(os.sep, "/")
                out[rel] = [os.path.getsize(p), pq.read_table(p).num_rows]
    return out


def gcs(url, bucket, prefix):
    prefix = prefix.strip("/") + "/"
    out, token = {}, None
    while True:
        q = {"prefix": prefix, "maxResults": "1000"}
        if token:
            q["pageToken"] = token
        listing = json.load(urllib.request.urlopen(
            f"{url}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(q)}", timeout=30))
        for item in listing.get("items", []):
            name = item["name"]
            if not name.endswith(".parquet"):
                continue
            data = urllib.request.urlopen(
                f"{url}/download/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media",
                timeout=30).read()
            assert len(data) == int(item["size"]), name
            out[name[len(prefix):]] = [len(data), pq.read_table(io.BytesIO(data)).num_rows]
        token = listing.get("nextPageToken")
        if not token:
            return out


def s3(url, bucket, prefix):
    import boto3

    prefix = prefix.strip("/") + "/"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"]
            if not name.endswith(".parquet"):
                continue
            data = client.get_object(Bucket=bucket, Key=name)["Body"].read()
            out[name[len(prefix):]] = [len(data), pq.read_table(io.BytesIO(data)).num_rows]
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--gcs":
        summary = gcs(*sys.argv[2:5])
    elif sys.argv[1] == "--s3":
        summary = s3(*sys.argv[2:5])
    else:
        summary = local(sys.argv[1])
    json.dump(summary, sys.stdout, sort_keys=True)
    # pyarrow's C++ thread pools and boto3's threads occasionally abort the
    # interpreter's teardown ("terminate called without an active exception")
    # after a large read; the summary is complete, so leave without teardown.
    sys.stdout.flush()
    os._exit(0)
