//! Access log in Traefik's common (CLF) or JSON format, written off the async runtime.

use crate::context::RequestCtx;
use http::{Method, StatusCode, Version};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The format of access-log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Traefik's extended Common Log Format.
    Common,
    /// One JSON object per line.
    Json,
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// One served request, as the access log sees it.
pub struct Entry<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request path and query.
    pub uri: &'a str,
    /// HTTP version.
    pub version: Version,
    /// Final status sent to the client.
    pub status: StatusCode,
    /// Response size when known.
    pub size: Option<u64>,
    /// Referer header.
    pub referer: Option<&'a str>,
    /// User-Agent header.
    pub user_agent: Option<&'a str>,
    /// Request count since start.
    pub count: u64,
    /// Time to response headers.
    pub duration: Duration,
}

/// A handle that queues lines for a writer thread, so the request path never blocks on I/O.
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: Format,
    tx: mpsc::SyncSender<String>,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub fn open(format: Format, target: Target) -> std::io::Result<Self> {
        let mut out: Box<dyn Write + Send> = match &target {
            Target::Stdout => Box::new(std::io::stdout()),
            Target::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = mpsc::sync_channel::<String>(8192);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let mut buf = std::io::BufWriter::new(&mut out);
                while let Ok(line) = rx.recv() {
                    let _ = buf.write_all(line.as_bytes());
                    // Flush when the queue is drained, so lines appear promptly under low load.
                    while let Ok(line) = rx.try_recv() {
                        let _ = buf.write_all(line.as_bytes());
                    }
                    let _ = buf.flush();
                }
            })?;
        Ok(AccessLog { format, tx })
    }

    /// Queues one line; drops it (never blocks) if the writer is far behind.
    pub fn log(&self, e: &Entry<'_>, ctx: &RequestCtx) {
        let line = match self.format {
            Format::Common => common(e, ctx),
            Format::Json => json(e, ctx),
        };
        let _ = self.tx.try_send(line);
    }
}

fn common(e: &Entry<'_>, ctx: &RequestCtx) -> String {
    format!(
        "{} - - [{}] \"{} {} {:?}\" {} {} \"{}\" \"{}\" {} \"{}\" \"{}\" {}ms\n",
        ctx.client.ip(),
        clf_time(SystemTime::now()),
        e.method,
        e.uri,
        e.version,
        e.status.as_u16(),
        e.size.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        e.referer.unwrap_or("-"),
        e.user_agent.unwrap_or("-"),
        e.count,
        ctx.router.as_deref().unwrap_or("-"),
        ctx.upstream.as_deref().unwrap_or("-"),
        e.duration.as_millis(),
    )
}

fn json(e: &Entry<'_>, ctx: &RequestCtx) -> String {
    let mut s = serde_json::json!({
        "ClientHost": ctx.client.ip().to_string(),
        "ClientAddr": ctx.client.to_string(),
        "RequestMethod": e.method.as_str(),
        "RequestPath": e.uri,
        "RequestProtocol": format!("{:?}", e.version),
        "RequestHost": ctx.host,
        "DownstreamStatus": e.status.as_u16(),
        "DownstreamContentSize": e.size,
        "RequestCount": e.count,
        "RouterName": ctx.router.as_deref(),
        "ServiceName": ctx.service.as_deref(),
        "ServiceURL": ctx.upstream.as_deref(),
        "EntryPointName": ctx.entrypoint.name,
        "Duration": e.duration.as_nanos() as u64,
        "request_User-Agent": e.user_agent,
        "request_Referer": e.referer,
    })
    .to_string();
    s.push('\n');
    s
}

/// `10/Oct/2000:13:55:36 +0000`.
fn clf_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_dates() {
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(971_185_336);
        assert_eq!(clf_time(t), "10/Oct/2000:13:42:16 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(clf_time(leap), "29/Feb/2024:12:34:56 +0000");
    }
}
