//! A real Redis server on a loopback port, for tests of the shared plugin kv.
//!
//! Runs the system `redis-server` (Debian's `redis-server`) without
//! persistence; [`RedisServer::start`] returns `None` (and says why on
//! stderr) when it is not installed, so tests can skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::etcd::{free_port, installed};

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it
    /// answers `PING`. `Ok(None)` when it is not installed.
    pub fn start() -> anyhow::Result<Option<RedisServer>> {
        if !installed("redis-server", "redis-server") {
            return Ok(None);
        }
        let mut server = RedisServer {
            port: free_port()?,
            dir: tempfile::Builder::new()
                .prefix("wasmgate-redis-")
                .tempdir()?,
            child: None,
        };
        server.start_again()?;
        Ok(Some(server))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server; the port stays reserved for [`RedisServer::start_again`].
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port (with an empty data set).
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.path().join("redis.log"))?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            if Instant::now() >= deadline {
                bail!("redis-server on port {} not answering PING", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Sends one command in Redis's inline form and returns the raw reply.
    pub fn command(&self, line: &str) -> anyhow::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(format!("{line}\r\n").as_bytes())?;
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn ping(&self) -> bool {
        self.command("PING")
            .map(|reply| reply.starts_with("+PONG"))
            .unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_after_a_restart() -> anyhow::Result<()> {
        let Some(mut redis) = RedisServer::start()? else {
            return Ok(());
        };
        assert!(redis.command("INCR n")?.starts_with(":1"));
        redis.stop()?;
        assert!(redis.command("PING").is_err());
        redis.start_again()?;
        assert!(redis.command("INCR n")?.starts_with(":1"));
        Ok(())
    }
}
