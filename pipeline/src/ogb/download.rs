//! HTTP download with a progress bar, retries, and resume of an interrupted transfer.
//!
//! Bytes go to `<dest>.part`; a retry asks for the rest with a `Range` header (and starts over
//! if the server ignores it). Only a complete file is renamed to `dest`, so a cached `dest` is
//! always whole.

use crate::error::{Error, IoContext, Result};
use crate::progress::{Reporter, Task};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Download settings.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubles each time (at most 30 s).
    pub backoff: Duration,
    /// Where the transfer's progress goes (nowhere by default).
    pub progress: Reporter,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions { retries: 8, backoff: Duration::from_millis(500), progress: Reporter::silent() }
    }
}

enum Attempt {
    Done,
    /// Worth another try (connection dropped, short body, server error).
    Retry(String),
}

/// Downloads `url` to `dest` unless `dest` already exists; returns `dest`.
pub fn download(url: &str, dest: &Path, opts: &DownloadOptions) -> Result<PathBuf> {
    if dest.is_file() {
        return Ok(dest.to_path_buf());
    }
    if let Some(p) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(p).at(p)?;
    }
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let pb = opts.progress.task(&format!("downloading {}", url.rsplit('/').next().unwrap_or(url)), 0, true);
    let mut wait = opts.backoff;
    let mut last = String::new();
    for attempt in 0..=opts.retries {
        if attempt > 0 {
            tracing::warn!("download {url}: {last}; retry {attempt}/{} in {:?}", opts.retries, wait);
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        match try_once(&agent, url, &part, &pb)? {
            Attempt::Done => {
                fs::rename(&part, dest).at(dest)?;
                pb.finish();
                return Ok(dest.to_path_buf());
            }
            Attempt::Retry(why) => last = why,
        }
    }
    pb.finish();
    Err(Error::Download {
        url: url.into(),
        msg: format!(
            "gave up after {} attempts: {last} (partial data kept in {} for the next run)",
            opts.retries + 1,
            part.display()
        ),
    })
}

fn try_once(agent: &ureq::Agent, url: &str, part: &Path, pb: &Task) -> Result<Attempt> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(e) => return Ok(Attempt::Retry(e.to_string())),
    };
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    let (start, total) = match status {
        200 => (0, length),
        206 => {
            // Content-Range: bytes START-END/TOTAL
            let cr = header("content-range").unwrap_or_default();
            let parsed = cr.strip_prefix("bytes ").and_then(|r| {
                let (range, total) = r.split_once('/')?;
                let start: u64 = range.split('-').next()?.parse().ok()?;
                Some((start, total.parse::<u64>().ok()))
            });
            match parsed {
                Some((s, t)) if s == have => (s, t),
                _ => {
                    // A range we did not ask for: drop the partial file and start over.
                    let _ = fs::remove_file(part);
                    return Ok(Attempt::Retry(format!("unexpected Content-Range {cr:?}")));
                }
            }
        }
        416 => {
            let _ = fs::remove_file(part);
            return Ok(Attempt::Retry("server refused the resume range; starting over".into()));
        }
        s if s >= 500 || s == 408 || s == 429 => return Ok(Attempt::Retry(format!("HTTP {s}"))),
        s => {
            return Err(Error::Download { url: url.into(), msg: format!("HTTP {s}") });
        }
    };
    let mut file =
        if start == 0 { File::create(part).at(part)? } else { OpenOptions::new().append(true).open(part).at(part)? };
    if let Some(t) = total {
        pb.set_len(t);
    }
    pb.set_position(start);
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = start;
    loop {
        match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                file.write_all(&buf[..n]).at(part)?;
                pos += n as u64;
                pb.set_position(pos);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                file.flush().at(part)?;
                return Ok(Attempt::Retry(format!("connection lost after {pos} bytes: {e}")));
            }
        }
    }
    file.sync_all().at(part)?;
    match total {
        Some(t) if pos < t => Ok(Attempt::Retry(format!("got {pos} of {t} bytes"))),
        Some(t) if pos > t => {
            let _ = fs::remove_file(part);
            Ok(Attempt::Retry(format!("got {pos} bytes, more than the {t} announced; starting over")))
        }
        _ => Ok(Attempt::Done),
    }
}
