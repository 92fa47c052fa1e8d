//! A small blocking HTTP/1.1 client for the agent's Unix socket, bounded by one deadline.
//!
//! The plugin asks one question per pod, so each call opens a connection, sends one request
//! with `Connection: close` and reads the answer; every step shares the caller's deadline.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::protocol::{
    ADD_PATH, AddRequest, AddResponse, ErrorBody, HEALTHZ_PATH, InvalidResponse,
};

/// Largest answer read from the agent; a real one is a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why the agent gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Nothing listens on the socket, or the connection failed.
    #[error("cannot connect to {socket}: {source}")]
    Connect {
        /// The socket path.
        socket: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The deadline passed before a full answer arrived.
    #[error("no answer from {socket} within {timeout:?}")]
    Timeout {
        /// The socket path.
        socket: PathBuf,
        /// The deadline the call had.
        timeout: Duration,
    },
    /// Reading or writing the connection failed.
    #[error("talking to {socket}: {source}")]
    Io {
        /// The socket path.
        socket: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The agent answered something that is not HTTP/1.1 as expected.
    #[error("malformed HTTP answer from {socket}: {problem}")]
    Malformed {
        /// The socket path.
        socket: PathBuf,
        /// What was wrong.
        problem: String,
    },
    /// The agent answered with an error status.
    #[error("agent at {socket} answered {status}: {message}")]
    Status {
        /// The socket path.
        socket: PathBuf,
        /// HTTP status code.
        status: u16,
        /// The agent's `error` text, or the raw body.
        message: String,
    },
    /// The agent's 200 answer is not a valid wire protocol v1 response.
    #[error("agent at {socket} answered an invalid profile: {source}")]
    Invalid {
        /// The socket path.
        socket: PathBuf,
        /// What is invalid.
        source: InvalidResponse,
    },
}

/// Client for one agent socket with a per-call deadline.
#[derive(Debug, Clone)]
pub struct AgentClient {
    socket: PathBuf,
    timeout: Duration,
}

/// A parsed HTTP response.
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl AgentClient {
    /// A client for `socket` whose every call ends within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            socket: socket.into(),
            timeout,
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `POST /v1/cni/add`: the effective profile for a pod, validated.
    pub fn add(&self, request: &AddRequest) -> Result<AddResponse, AgentError> {
        // Serialising a struct of strings cannot fail.
        let body = serde_json::to_vec(request).unwrap_or_default();
        let response = self.call("POST", ADD_PATH, &body)?;
        let answer: AddResponse = serde_json::from_slice(&self.ok_body(response)?)
            .map_err(|e| self.malformed(format!("body is not an AddResponse: {e}")))?;
        answer.validate().map_err(|source| AgentError::Invalid {
            socket: self.socket.clone(),
            source,
        })?;
        Ok(answer)
    }

    /// `GET /v1/healthz`: `Ok` when the agent says it can serve.
    pub fn healthz(&self) -> Result<(), AgentError> {
        let response = self.call("GET", HEALTHZ_PATH, b"")?;
        self.ok_body(response).map(drop)
    }

    fn ok_body(&self, response: Response) -> Result<Vec<u8>, AgentError> {
        if response.status == 200 {
            return Ok(response.body);
        }
        let message = serde_json::from_slice::<ErrorBody>(&response.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&response.body).into_owned());
        Err(AgentError::Status {
            socket: self.socket.clone(),
            status: response.status,
            message,
        })
    }

    fn malformed(&self, problem: String) -> AgentError {
        AgentError::Malformed {
            socket: self.socket.clone(),
            problem,
        }
    }

    fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Response, AgentError> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect()?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: agent\r\nUser-Agent: tether-cni/{}\r\nConnection: close\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.arm(&stream, deadline)?;
        stream.write_all(&bytes).map_err(|e| self.io_error(e))?;

        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            self.arm(&stream, deadline)?;
            let n = stream.read(&mut chunk).map_err(|e| self.io_error(e))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE_BYTES {
                return Err(self.malformed(format!("answer exceeds {MAX_RESPONSE_BYTES} bytes")));
            }
            if let Some(response) = parse_response(&buf).map_err(|p| self.malformed(p))? {
                return Ok(response);
            }
        }
        parse_response_at_eof(&buf).map_err(|p| self.malformed(p))
    }

    fn connect(&self) -> Result<UnixStream, AgentError> {
        let connect_error = |source| AgentError::Connect {
            socket: self.socket.clone(),
            source,
        };
        let addr = SockAddr::unix(&self.socket).map_err(connect_error)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(connect_error)?;
        // A Unix connect blocks while the listener's backlog is full: bound it too.
        socket.connect_timeout(&addr, self.timeout).map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                AgentError::Timeout {
                    socket: self.socket.clone(),
                    timeout: self.timeout,
                }
            } else {
                connect_error(e)
            }
        })?;
        Ok(UnixStream::from(OwnedFd::from(socket)))
    }

    /// Sets the socket's timeouts to what is left of the deadline.
    fn arm(&self, stream: &UnixStream, deadline: Instant) -> Result<(), AgentError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(AgentError::Timeout {
                socket: self.socket.clone(),
                timeout: self.timeout,
            });
        }
        stream
            .set_read_timeout(Some(left))
            .and_then(|()| stream.set_write_timeout(Some(left)))
            .map_err(|e| self.io_error(e))
    }

    fn io_error(&self, source: io::Error) -> AgentError {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            AgentError::Timeout {
                socket: self.socket.clone(),
                timeout: self.timeout,
            }
        } else {
            AgentError::Io {
                socket: self.socket.clone(),
                source,
            }
        }
    }
}

/// Parsed head of a response: status, where the body starts, how it is framed.
struct Head {
    status: u16,
    body_start: usize,
    content_length: Option<usize>,
    chunked: bool,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if !version.starts_with("HTTP/1.") {
        return Err(format!("status line {status_line:?}"));
    }
    let status = code
        .parse()
        .map_err(|_| format!("status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| format!("Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    Ok(Some(Head {
        status,
        body_start: end + 4,
        content_length,
        chunked,
    }))
}

/// A complete response if `buf` holds one; `None` while more bytes are needed.
fn parse_response(buf: &[u8]) -> Result<Option<Response>, String> {
    let Some(head) = parse_head(buf)? else {
        return Ok(None);
    };
    let body = &buf[head.body_start..];
    if head.chunked {
        return Ok(dechunk(body)?.map(|body| Response {
            status: head.status,
            body,
        }));
    }
    Ok(match head.content_length {
        Some(len) if body.len() >= len => Some(Response {
            status: head.status,
            body: body[..len].to_vec(),
        }),
        _ => None,
    })
}

/// The response once the agent closed the connection: the body runs to the end.
fn parse_response_at_eof(buf: &[u8]) -> Result<Response, String> {
    let head = parse_head(buf)?
        .ok_or_else(|| "connection closed before the end of the head".to_string())?;
    if head.chunked || head.content_length.is_some() {
        return Err("connection closed before the end of the body".into());
    }
    Ok(Response {
        status: head.status,
        body: buf[head.body_start..].to_vec(),
    })
}

/// Decodes a chunked body; `None` until the final chunk has arrived.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_field =
            std::str::from_utf8(&rest[..eol]).map_err(|_| "chunk size is not UTF-8".to_string())?;
        let size_hex = size_field.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_hex, 16).map_err(|_| format!("chunk size {size_hex:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_framing() {
        let full =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: application/json\r\n\r\n{}";
        let r = parse_response(full).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert!(parse_response(&full[..full.len() - 1]).unwrap().is_none());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn chunked_framing() {
        let full = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(full).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        assert!(parse_response(&full[..full.len() - 5]).unwrap().is_none());
    }

    #[test]
    fn body_to_eof_without_length() {
        let r = parse_response_at_eof(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
        assert_eq!(r.body, b"hello");
        assert!(
            parse_response_at_eof(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello").is_err()
        );
        assert!(parse_response_at_eof(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }
}
