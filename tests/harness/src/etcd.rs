//! A real etcd cluster on loopback ports, for tests of the etcd provider.
//!
//! Members run the system `etcd` binary (Debian's `etcd-server`) with their
//! data in a temporary folder; [`EtcdCluster::start`] returns `None` (and
//! says why on stderr) when it is not installed, so tests can skip.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a member may take to answer a health check after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One etcd member: its ports, data folder and, while it runs, its process.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
}

/// PEM files for serving etcd's client URLs over TLS; clients must present a
/// certificate signed by `ca` (the members' own certificate will do).
#[derive(Debug, Clone)]
pub struct EtcdTls {
    /// The certificate authority.
    pub ca: PathBuf,
    /// The members' certificate (valid for `127.0.0.1`).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// A running etcd cluster of one or more members; every member is killed
/// and the data folder removed on drop.
#[derive(Debug)]
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    initial_cluster: String,
    members: Vec<Member>,
    tls: Option<EtcdTls>,
}

/// Whether `program --version` runs; prints a skip message when it does not.
pub(crate) fn installed(program: &str, package: &str) -> bool {
    match Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(error) => {
            eprintln!(
                "skipping: `{program}` is not runnable ({error}); install the Debian package `{package}`"
            );
            false
        }
    }
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdCluster {
    /// Starts `members` etcd members on free loopback ports and waits until
    /// each answers a health check. `Ok(None)` when `etcd` or `etcdctl` is
    /// not installed (a skip message is printed).
    pub fn start(members: usize) -> anyhow::Result<Option<EtcdCluster>> {
        Self::start_with(members, None)
    }

    /// Like [`EtcdCluster::start`], with client URLs served over TLS
    /// (`https://127.0.0.1:PORT`) and client certificates required.
    pub fn start_tls(members: usize, tls: EtcdTls) -> anyhow::Result<Option<EtcdCluster>> {
        Self::start_with(members, Some(tls))
    }

    fn start_with(members: usize, tls: Option<EtcdTls>) -> anyhow::Result<Option<EtcdCluster>> {
        if members == 0 {
            bail!("an etcd cluster needs at least one member");
        }
        if !installed("etcd", "etcd-server") || !installed("etcdctl", "etcd-client") {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("wasmgate-etcd-")
            .tempdir()?;
        let mut list = Vec::with_capacity(members);
        for i in 0..members {
            let name = format!("m{i}");
            list.push(Member {
                data_dir: dir.path().join(&name),
                name,
                client_port: free_port()?,
                peer_port: free_port()?,
                child: None,
            });
        }
        let initial_cluster = list
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            dir,
            initial_cluster,
            members: list,
            tls,
        };
        for i in 0..members {
            cluster.spawn(i)?;
        }
        for i in 0..members {
            cluster.wait_ready(i)?;
        }
        Ok(Some(cluster))
    }

    /// The client URL of every member (`http://127.0.0.1:PORT`).
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| self.member_url(m)).collect()
    }

    /// The client URLs joined with commas, as `--endpoints` takes them.
    pub fn endpoints(&self) -> String {
        self.client_urls().join(",")
    }

    /// Kills member `i` (as a crash would); its data folder stays.
    pub fn stop_member(&mut self, i: usize) -> anyhow::Result<()> {
        let member = self.members.get_mut(i).context("no such etcd member")?;
        if let Some(mut child) = member.child.take() {
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// Starts member `i` again on the same ports and data folder and waits
    /// until it answers a health check (it rejoins the cluster).
    pub fn start_member(&mut self, i: usize) -> anyhow::Result<()> {
        if self
            .members
            .get(i)
            .context("no such etcd member")?
            .child
            .is_some()
        {
            return Ok(());
        }
        self.spawn(i)?;
        self.wait_ready(i)
    }

    /// Runs `etcdctl` against every member with `args` and returns its
    /// standard output; fails with its standard error if it fails.
    pub fn etcdctl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.ctl(&self.endpoints(), args)
    }

    /// etcdctl's flags for this cluster's TLS files (none without TLS).
    fn tls_flags(&self) -> Vec<String> {
        match &self.tls {
            Some(tls) => vec![
                format!("--cacert={}", tls.ca.display()),
                format!("--cert={}", tls.cert.display()),
                format!("--key={}", tls.key.display()),
            ],
            None => Vec::new(),
        }
    }

    /// Runs `etcdctl` against `endpoints` with this cluster's TLS files.
    fn ctl(&self, endpoints: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut all = self.tls_flags();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        etcdctl(endpoints, &all)
    }

    /// Runs `etcdctl` with `input` on its standard input (as `put KEY` reads
    /// the value when it is left out, or `txn`).
    pub fn etcdctl_stdin(&self, args: &[&str], input: &str) -> anyhow::Result<String> {
        use std::io::Write;
        let mut child = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoints()))
            .args(self.tls_flags())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running etcdctl")?;
        child
            .stdin
            .take()
            .context("etcdctl stdin")?
            .write_all(input.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "etcdctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The folder holding the members' data folders and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = File::create(self.dir.path().join(format!("m{i}.log")))?;
        let client = self.member_url(&self.members[i]);
        let tls_args: Vec<String> = match &self.tls {
            Some(tls) => vec![
                format!("--cert-file={}", tls.cert.display()),
                format!("--key-file={}", tls.key.display()),
                "--client-cert-auth".to_owned(),
                format!("--trusted-ca-file={}", tls.ca.display()),
            ],
            None => Vec::new(),
        };
        let member = &mut self.members[i];
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(&member.data_dir)
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg("wasmgate-test")
            .arg("--logger")
            .arg("zap")
            .args(&tls_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting etcd")?;
        member.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, i: usize) -> anyhow::Result<()> {
        let url = self.member_url(&self.members[i]);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self
                .ctl(&url, &["endpoint", "health", "--command-timeout=1s"])
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.members[i].child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.dir.path().join(format!("m{i}.log")))
                    .unwrap_or_default();
                bail!("etcd member m{i} exited with {status}: {log}");
            }
            if Instant::now() >= deadline {
                bail!("etcd member m{i} at {url} not healthy after {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl EtcdCluster {
    fn member_url(&self, member: &Member) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", member.client_port)
    }
}

/// Runs `etcdctl --endpoints=ENDPOINTS ARGS...` and returns its stdout.
pub fn etcdctl(endpoints: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running etcdctl")?;
    if !output.status.success() {
        bail!(
            "etcdctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_stops_and_rejoins_with_its_data() -> anyhow::Result<()> {
        let Some(mut cluster) = EtcdCluster::start(3)? else {
            return Ok(());
        };
        cluster.etcdctl(&["put", "k", "v1"])?;
        cluster.stop_member(2)?;
        // The two left keep quorum; the first write may wait out a leader election (and
        // etcdctl may first try the stopped member), so it is retried for a while.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while let Err(e) = cluster.etcdctl(&["put", "k", "v2"]) {
            anyhow::ensure!(std::time::Instant::now() < deadline, "{e:#}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        cluster.start_member(2)?;
        let url = cluster.client_urls()[2].clone();
        let got = etcdctl(&url, &["get", "k", "--print-value-only"])?;
        assert_eq!(got.trim(), "v2");
        Ok(())
    }
}
