//! Consumer lag, from the broker's side: the high watermarks of the topics minus
//! the offsets the system has committed. musicaly commits to its consumer group
//! (when a roll's files are durable); Spark does not commit to Kafka at all and
//! keeps its offsets in the checkpoint, so for Spark the committed offsets are
//! those of the last micro-batch with a `commits/<batch>` entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// Where the committed offsets come from.
pub enum Committed {
    Group(String),
    /// Checkpoint root of the Spark peer: `<root>/<table>/{offsets,commits}/`.
    SparkCheckpoint(PathBuf),
}

pub struct Lag {
    client: BaseConsumer,
    topics: Vec<String>,
    partitions: HashMap<String, i32>,
    committed: Committed,
    /// `committed` group's own client (group.id set to it, never subscribed).
    group_client: Option<BaseConsumer>,
}

const T: Duration = Duration::from_secs(5);

impl Lag {
    pub fn new(brokers: &str, topics: &[String], committed: Committed) -> anyhow::Result<Lag> {
        let mk = |group: &str| -> anyhow::Result<BaseConsumer> {
            ClientConfig::new()
                .set("bootstrap.servers", brokers)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| anyhow::anyhow!("lag client: {e}"))
        };
        let client = mk(&crate::util::unique("lag"))?;
        let group_client = match &committed {
            Committed::Group(g) => Some(mk(g)?),
            Committed::SparkCheckpoint(_) => None,
        };
        let mut partitions = HashMap::new();
        for t in topics {
            let md = client
                .fetch_metadata(Some(t), T)
                .map_err(|e| anyhow::anyhow!("metadata of {t}: {e}"))?;
            let n = md
                .topics()
                .first()
                .map(|m| m.partitions().len())
                .unwrap_or(0);
            partitions.insert(t.clone(), n as i32);
        }
        Ok(Lag {
            client,
            topics: topics.to_vec(),
            partitions,
            committed,
            group_client,
        })
    }

    /// Sum of high watermarks over the topics.
    pub fn high(&self) -> anyhow::Result<i64> {
        let mut sum = 0;
        for t in &self.topics {
            for p in 0..self.partitions[t] {
                let (_, hi) = self
                    .client
                    .fetch_watermarks(t, p, T)
                    .map_err(|e| anyhow::anyhow!("watermarks of {t}[{p}]: {e}"))?;
                sum += hi;
            }
        }
        Ok(sum)
    }

    /// Sum of committed offsets (0 for a partition with none yet).
    pub fn committed(&self) -> anyhow::Result<i64> {
        match (&self.committed, &self.group_client) {
            (Committed::Group(_), Some(c)) => {
                let mut tpl = TopicPartitionList::new();
                for t in &self.topics {
                    for p in 0..self.partitions[t] {
                        tpl.add_partition(t, p);
                    }
                }
                let got = c
                    .committed_offsets(tpl, T)
                    .map_err(|e| anyhow::anyhow!("committed offsets: {e}"))?;
                Ok(got
                    .elements()
                    .iter()
                    .map(|e| match e.offset() {
                        Offset::Offset(o) => o,
                        _ => 0,
                    })
                    .sum())
            }
            (Committed::SparkCheckpoint(root), _) => Ok(self
                .topics
                .iter()
                .map(|t| spark_committed(&root.join(t.rsplit('.').next().unwrap_or(t)), t))
                .sum()),
            _ => Err(anyhow::anyhow!("no group client")),
        }
    }

    /// High watermark minus committed, summed over the partitions.
    pub fn lag(&self) -> anyhow::Result<i64> {
        Ok((self.high()? - self.committed()?).max(0))
    }
}

/// Offsets of `topic` in the checkpoint's last committed micro-batch: the
/// `offsets/<n>` file ("v1", metadata, then one JSON offsets line per source)
/// of the highest `n` that also has `commits/<n>`.
fn spark_committed(ckpt: &Path, topic: &str) -> i64 {
    let last = std::fs::read_dir(ckpt.join("commits"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max();
    let Some(n) = last else {
        return 0;
    };
    let Ok(text) = std::fs::read_to_string(ckpt.join("offsets").join(n.to_string())) else {
        return 0;
    };
    text.lines()
        .skip(2)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get(topic)?
                .as_object()
                .map(|m| m.values().filter_map(|o| o.as_i64()).sum::<i64>())
        })
        .sum()
}
