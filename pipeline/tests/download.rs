//! Downloads from a real HTTP server on 127.0.0.1: whole, resumed after the server drops the
//! connection mid-file, and refused on a 404. Then prepare from the downloaded zip.

mod common;
use common::*;
use mille_pipeline::ogb::{DownloadOptions, download, extract_zip};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves `body` at /data.zip for `connections` requests. When `drop_first_after` is set, the
/// first response announces the full length but the connection closes after that many bytes.
/// Returns the port and the Range header of every request.
fn serve(body: Vec<u8>, connections: usize, drop_first_after: Option<usize>) -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (k, stream) in listener.incoming().take(connections).enumerate() {
            let mut stream = stream.unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut range = None;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range:") {
                    range = Some(v.trim().to_string());
                }
            }
            log.lock().unwrap().push(range.clone());
            if !request.contains("/data.zip") {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let start: usize = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes=")?.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let head = if start > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    body.len() - start,
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            };
            stream.write_all(head.as_bytes()).unwrap();
            let end = match (k, drop_first_after) {
                (0, Some(cut)) => cut,
                _ => body.len(),
            };
            let _ = stream.write_all(&body[start..end]);
            let _ = stream.flush();
            // dropping the stream closes the connection (mid-file on the first one)
        }
    });
    (port, seen)
}

fn quick() -> DownloadOptions {
    DownloadOptions { retries: 3, backoff: Duration::from_millis(10), progress: Default::default() }
}

#[test]
fn resumes_after_the_server_drops_the_connection() {
    let body = std::fs::read(fixture("products_like.zip")).unwrap();
    let half = body.len() / 2;
    let (port, seen) = serve(body.clone(), 2, Some(half));
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("cache/products.zip");
    let got = download(&format!("http://127.0.0.1:{port}/data.zip"), &dest, &quick()).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), body, "the whole file, byte for byte");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![None, Some(format!("bytes={half}-"))], "second request resumed where the first stopped");
    assert!(!tmp.path().join("cache/products.zip.part").exists());
    // The downloaded zip prepares like the folder it came from.
    extract_zip(&got, &tmp.path().join("x")).unwrap();
    assert_eq!(prepare(&tmp.path().join("x"), "p", true, tmp.path()).num_nodes(), 40);
}

#[test]
fn a_cached_file_is_not_downloaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d.zip");
    std::fs::write(&dest, b"cached").unwrap();
    // Nothing listens on this port: a request would fail.
    let got = download("http://127.0.0.1:9/data.zip", &dest, &quick()).unwrap();
    assert_eq!(std::fs::read(got).unwrap(), b"cached");
}

#[test]
fn a_missing_file_is_an_error_without_retries() {
    let (port, seen) = serve(vec![1, 2, 3], 1, None);
    let tmp = tempfile::tempdir().unwrap();
    let err = download(&format!("http://127.0.0.1:{port}/nothing.zip"), &tmp.path().join("n.zip"), &quick())
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 404"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(!tmp.path().join("n.zip").exists());
}

#[test]
fn gives_up_after_the_retries_keeping_the_partial_file() {
    let body = vec![7u8; 100_000];
    // Every connection drops after 1000 bytes... of the first response only; so serve just one
    // connection and let the rest be refused.
    let (port, _) = serve(body, 1, Some(1000));
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("b.zip");
    let err = download(&format!("http://127.0.0.1:{port}/data.zip"), &dest, &quick()).unwrap_err().to_string();
    assert!(err.contains("gave up after 4 attempts"), "{err}");
    assert_eq!(std::fs::metadata(tmp.path().join("b.zip.part")).unwrap().len(), 1000);
    assert!(!dest.exists());
}
