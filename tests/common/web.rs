//! HTTP helpers for the dashboard's tests: a server child that reports its
//! port, plain GETs, and an SSE reader.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bin;

/// A running `musicaly` server child, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `musicaly <args> --listen 127.0.0.1:0` and reads the port from the
/// `dashboard...: http://ADDR/` line on stderr.
pub fn start(args: &[&str], data: &Path) -> Server {
    start_with(
        bin()
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]),
    )
}

/// Spawns `cmd` (a musicaly command that serves) and waits for its URL.
pub fn start_with(cmd: &mut std::process::Command) -> Server {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                    let port: u16 = rest
                        .trim_end_matches(|c: char| !c.is_ascii_digit())
                        .split('/')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let _ = tx.send(port);
                    sent = true;
                }
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server printed its URL");
    Server { child, port }
}

/// GET: (status, headers lower-cased, body).
pub fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

pub fn get_json(port: u16, path: &str) -> Value {
    let (status, _, body) = get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Reads `n` SSE update events (their data as JSON); also returns whether a
/// keepalive was seen.
pub fn sse_updates(port: u16, n: usize, timeout: Duration) -> (Vec<Value>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(s, "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let deadline = Instant::now() + timeout;
    let mut buf = String::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    while out.len() < n && Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => buf.push_str(&String::from_utf8_lossy(&chunk[..k])),
            Err(_) => {}
        }
        while let Some(i) = buf.find("event: update\ndata: ") {
            let rest = &buf[i + 20..];
            let Some(end) = rest.find('\n') else { break };
            out.push(serde_json::from_str(&rest[..end]).unwrap());
            buf = rest[end..].to_string();
        }
    }
    assert!(buf.is_empty() || !buf.contains("HTTP/1.1 4"), "{buf}");
    (out, buf.contains(": keepalive"))
}
