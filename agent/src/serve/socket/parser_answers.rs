//! JSON bodies for the answers hyper's parser gives by itself.
//!
//! A request hyper cannot parse (bad request line, header or framing: 400; URI too long: 414;
//! head too large: 431) is answered by hyper with an empty body before the service ever sees
//! it (`Server::on_error`, hyper 1.12 `src/proto/h1/role.rs:493`). The wire protocol promises
//! `{"error": "..."}` on every 4xx, so this wrapper around the connection's stream replaces
//! those answers with JSON ones of the same status.
//!
//! It knows them by when they are written: until the service has been called, the only bytes
//! hyper writes are its answer to a parse error (`Conn::on_parse_error`,
//! `src/proto/h1/conn.rs:836`); a `100 Continue` is written only once the service reads a body.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use cni::protocol::ErrorBody;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::admission::Slot;
use crate::metrics::Metrics;

/// More than hyper's automatic answer (a status line, `content-length: 0`, a date) ever takes.
const CAPTURE_LIMIT: usize = 1024;

/// A connection's stream that rewrites hyper's automatic answers as JSON errors.
pub(super) struct ParserAnswers<S> {
    inner: S,
    slot: Arc<Slot>,
    metrics: Arc<Metrics>,
    /// What hyper wrote before the service was called: its automatic answer.
    captured: Vec<u8>,
    /// The JSON answer written instead, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> ParserAnswers<S> {
    /// Wraps `inner`, the stream of the connection whose state is `slot`.
    pub(super) fn new(inner: S, slot: Arc<Slot>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            slot,
            metrics,
            captured: Vec::new(),
            replacement: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> ParserAnswers<S> {
    /// Writes the JSON answer in place of what hyper wrote, if it wrote anything on its own.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.captured.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let (bytes, written) = self.replacement.get_or_insert_with(|| {
            let status = self
                .captured
                .get(9..12)
                .and_then(|code| std::str::from_utf8(code).ok()?.parse().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            super::count_response(&self.metrics, status);
            (json_answer(status), 0)
        });
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The whole answer to a request hyper refused: status line, headers and `{"error": "..."}`.
fn json_answer(status: StatusCode) -> Vec<u8> {
    let error = match status {
        StatusCode::URI_TOO_LONG => "request URI too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "request head too large: too many or too long header fields"
        }
        StatusCode::BAD_REQUEST => {
            "malformed request: its request line, a header or its framing cannot be parsed"
        }
        _ => "request refused by the HTTP parser",
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: error.to_owned(),
    })
    .unwrap_or_else(|_| b"{}".to_vec());
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl<S: AsyncRead + Unpin> AsyncRead for ParserAnswers<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ParserAnswers<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.slot.is_routed() {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        }
        let room = CAPTURE_LIMIT.saturating_sub(self.captured.len());
        self.captured.extend_from_slice(&buf[..buf.len().min(room)]);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_json_errors_of_the_same_status() {
        for status in [400, 414, 431, 505] {
            let status = StatusCode::from_u16(status).unwrap();
            let answer = String::from_utf8(json_answer(status)).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", status.as_str())));
            assert!(head.contains("content-type: application/json"));
            assert!(head.contains(&format!("content-length: {}\r", body.len())));
            let error: ErrorBody = serde_json::from_str(body).unwrap();
            assert!(!error.error.is_empty());
        }
    }
}
