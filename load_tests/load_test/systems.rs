//! The systems under test, started as child processes and stopped by their own
//! ids: `musicaly pipeline` (one or several in one consumer group, optionally
//! pinned with `taskset`) and the Spark peer (`spark-submit` of
//! load_tests/spark/peer.py, in its own process group so that the JVM and its
//! Python workers stop together).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::lag::Committed;
use crate::util::{free_port, http_get, unique};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Musicaly,
    Spark,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Musicaly => "musicaly",
            Kind::Spark => "spark",
        }
    }
}

/// How to start a system; shared by every run of a comparison.
#[derive(Clone, Debug)]
pub struct Setup {
    pub brokers: String,
    pub musicaly: PathBuf,
    /// Seconds after which the pipeline's open files roll (lake.file_max_age_secs)
    /// and Spark's processing-time trigger: the durability interval of both.
    pub commit_secs: u64,
    pub spark_home: PathBuf,
    pub spark_peer: PathBuf,
    pub spark_cores: usize,
    /// Spark's trigger when it differs from `commit_secs` (the original's 120 s).
    pub spark_trigger_secs: Option<f64>,
    pub spark_driver_memory: String,
}

pub struct Running {
    pub kind: Kind,
    children: Vec<Child>,
    /// Roots of the measured process trees.
    pub pids: Vec<u32>,
    /// The lake the system writes: `<lake>/<table>/`.
    pub lake: PathBuf,
    /// Web ports of the pipelines (live view).
    pub ports: Vec<u16>,
    pub group: String,
    pub checkpoint: PathBuf,
    work: PathBuf,
    topics: Vec<String>,
}

impl Running {
    pub fn committed(&self) -> Committed {
        match self.kind {
            Kind::Musicaly => Committed::Group(self.group.clone()),
            Kind::Spark => Committed::SparkCheckpoint(self.checkpoint.clone()),
        }
    }

    /// Fails when a child has exited (the run cannot go on).
    pub fn check(&mut self) -> anyhow::Result<()> {
        for c in &mut self.children {
            if let Ok(Some(s)) = c.try_wait() {
                return Err(anyhow::anyhow!(
                    "{} exited during the run ({s}); its log is in {}",
                    self.kind.name(),
                    self.work.display()
                ));
            }
        }
        Ok(())
    }

    /// SIGTERM to every child (Spark: its process group), SIGKILL after `grace`.
    /// Returns how long the stop took.
    pub fn stop(&mut self, grace: Duration) -> f64 {
        let t0 = Instant::now();
        for c in &self.children {
            let pid = c.id() as libc::pid_t;
            // SAFETY: signals to our own children (or the group we created for one).
            unsafe {
                match self.kind {
                    Kind::Spark => libc::kill(-pid, libc::SIGTERM),
                    Kind::Musicaly => libc::kill(pid, libc::SIGTERM),
                };
            }
        }
        for c in &mut self.children {
            let deadline = t0 + grace;
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let pid = c.id() as libc::pid_t;
                    // SAFETY: as above.
                    unsafe {
                        if self.kind == Kind::Spark {
                            libc::kill(-pid, libc::SIGKILL);
                        }
                    }
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        t0.elapsed().as_secs_f64()
    }

    /// One more pipeline in the same group (a scale-out run's join), pinned to `cpus`.
    pub fn add_pipeline(&mut self, setup: &Setup, cpus: Option<&str>) -> anyhow::Result<()> {
        let i = self.children.len();
        let (child, port) = spawn_pipeline(setup, &self.work, &self.topics, &self.group, i, cpus)?;
        self.pids.push(child.id());
        self.children.push(child);
        self.ports.push(port);
        wait_web(port, &mut self.children[i])
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self
            .children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(None)))
        {
            self.stop(Duration::from_secs(10));
        }
    }
}

/// Starts `n` pipelines (or the Spark peer, `n` ignored) reading `topics`, with
/// their files under `work`. `pin[i]` is the `taskset -c` list of pipeline i.
pub fn start(
    kind: Kind,
    setup: &Setup,
    work: &Path,
    topics: &[String],
    n: usize,
    pin: &[String],
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(work).map_err(|e| anyhow::anyhow!("{}: {e}", work.display()))?;
    let mut r = Running {
        kind,
        children: Vec::new(),
        pids: Vec::new(),
        lake: work.join("lake"),
        ports: Vec::new(),
        group: unique("ltgroup"),
        checkpoint: work.join("checkpoint"),
        work: work.to_path_buf(),
        topics: topics.to_vec(),
    };
    match kind {
        Kind::Musicaly => {
            for i in 0..n.max(1) {
                r.add_pipeline(setup, pin.get(i).map(String::as_str))?;
            }
        }
        Kind::Spark => {
            let child = spawn_spark(setup, work, topics, &r.lake, &r.checkpoint)?;
            r.pids.push(child.id());
            r.children.push(child);
        }
    }
    Ok(r)
}

fn log_file(work: &Path, name: &str) -> anyhow::Result<Stdio> {
    let p = work.join(name);
    std::fs::File::create(&p)
        .map(Stdio::from)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

fn spawn_pipeline(
    s: &Setup,
    work: &Path,
    topics: &[String],
    group: &str,
    i: usize,
    cpus: Option<&str>,
) -> anyhow::Result<(Child, u16)> {
    let port = free_port()?;
    let dir = work.join(format!("pipeline-{i}"));
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let quoted: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    let cfg = dir.join("load.toml");
    // One lake for the whole group (file names carry topic, partition and
    // offset, so members never collide); the warehouse is off: it is not the
    // stream path, and its load at exit would be measured as the stop.
    let toml = format!(
        "[data]\ndir = \"{}\"\n[lake]\npath = \"{}\"\nfile_max_age_secs = {}\n[web]\nlisten = \"127.0.0.1:{port}\"\n[warehouse]\nenabled = false\n[kafka]\nbrokers = \"{}\"\ngroup_id = \"{group}\"\ntopics = [{}]\nidle_exit_secs = 0\n[log]\nlevel = \"warn\"\n",
        dir.display(),
        work.join("lake").display(),
        s.commit_secs.max(1),
        s.brokers,
        quoted.join(", ")
    );
    std::fs::write(&cfg, toml).map_err(|e| anyhow::anyhow!("{}: {e}", cfg.display()))?;
    let mut cmd = match cpus {
        Some(c) => {
            let mut k = Command::new("taskset");
            k.args(["-c", c]).arg(&s.musicaly);
            k
        }
        None => Command::new(&s.musicaly),
    };
    cmd.arg("pipeline")
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(log_file(&dir, "stdout.log")?)
        .stderr(log_file(&dir, "stderr.log")?);
    let child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("spawn {}: {e}", s.musicaly.display()))?;
    Ok((child, port))
}

/// Waits until the pipeline serves /health (it has parsed its config and started).
fn wait_web(port: u16, child: &mut Child) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(s)) = child.try_wait() {
            return Err(anyhow::anyhow!("musicaly pipeline exited at start ({s})"));
        }
        if http_get(port, "/health").is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(anyhow::anyhow!(
        "musicaly pipeline: no /health on port {port} after 60 s"
    ))
}

fn spawn_spark(
    s: &Setup,
    work: &Path,
    topics: &[String],
    lake: &Path,
    ckpt: &Path,
) -> anyhow::Result<Child> {
    use std::os::unix::process::CommandExt;
    let jars: Vec<String> = std::fs::read_dir(s.spark_home.join("jars"))
        .map_err(|e| {
            anyhow::anyhow!(
                "{}/jars: {e} (run load_tests/spark/install.sh)",
                s.spark_home.display()
            )
        })?
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".jar"))
        .collect();
    if jars.len() != 4 {
        return Err(anyhow::anyhow!(
            "{}/jars holds {} jars, not the connector's 4: run load_tests/spark/install.sh",
            s.spark_home.display(),
            jars.len()
        ));
    }
    let venv = s.spark_home.join("venv");
    let trigger = s.spark_trigger_secs.unwrap_or(s.commit_secs as f64);
    let mut cmd = Command::new(venv.join("bin/spark-submit"));
    cmd.arg("--master")
        .arg(format!("local[{}]", s.spark_cores.max(1)))
        .arg("--driver-memory")
        .arg(&s.spark_driver_memory)
        .arg("--jars")
        .arg(jars.join(","))
        .args(["--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.sql.session.timeZone=UTC"])
        .arg(&s.spark_peer)
        .args(["--brokers", &s.brokers])
        .args(["--topics", &topics.join(",")])
        .arg("--output")
        .arg(lake)
        .arg("--checkpoint")
        .arg(ckpt)
        .args(["--trigger-secs", &trigger.to_string()])
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", venv.join("bin/python"))
        .env("PYSPARK_DRIVER_PYTHON", venv.join("bin/python"))
        .stdin(Stdio::null())
        .stdout(log_file(work, "spark-stdout.log")?)
        .stderr(log_file(work, "spark-stderr.log")?)
        .process_group(0);
    cmd.spawn()
        .map_err(|e| anyhow::anyhow!("spawn spark-submit: {e} (run load_tests/spark/install.sh)"))
}
