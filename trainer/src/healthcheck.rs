//! `healthcheck`: one HTTP GET to the local `serve`, for Docker's `HEALTHCHECK` and Compose's
//! `healthcheck:` in model images, which are `FROM scratch` and have no curl. Plain std: a TCP
//! connection, an HTTP/1.0 request, the status line of the answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long connecting, sending and reading may each take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// `GET path` on 127.0.0.1:`port`: the response's status code, or why there is none.
pub fn get_status(port: u16, path: &str) -> Result<u16, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("{addr}: {e}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{addr}: cannot send: {e}"))?;
    // The status line fits in the first bytes; the body is not needed.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(format!("{addr}: cannot read the answer: {e}")),
        }
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    parse_status(&head[..len]).ok_or_else(|| format!("{addr}: not an HTTP answer"))
}

/// The code of an HTTP status line (`HTTP/1.1 200 OK`).
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The command: 0 when the answer is 200, 1 otherwise (Docker's healthy and unhealthy).
pub fn run(port: u16, path: &str) -> u8 {
    match get_status(port, path) {
        Ok(200) => 0,
        Ok(code) => {
            eprintln!("unhealthy: GET {path} answered {code}");
            1
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        // Bind and drop: the port is then (very likely) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(get_status(port, "/health").is_err());
        assert_eq!(run(port, "/health"), 1);
    }
}
