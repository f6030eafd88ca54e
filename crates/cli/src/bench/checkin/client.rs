//! The load generator's HTTP/1.1: one keep-alive connection per simulated phone, requests
//! written whole from bytes built before the window, answers read by their
//! `Content-Length`.
//!
//! The generator shares the machine's two cores with the server it measures, so what it
//! spends is taken from the server. A general client (reqwest, and hyper's client under
//! it) spent about 30 µs a request here on URL parsing, its pool, redirect and proxy
//! policy and a connection task per connection (docs/benchmarks.md, fourth round); a
//! phone needs none of it. Like `wrk`, this writes pre-built request bytes and parses the
//! answer's head (with `httparse`, as hyper does).

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: an `http://host:port` origin.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    /// `host:port`, what the socket connects to and the `Host` header names.
    authority: String,
}

impl Origin {
    /// Parses `http://host[:port][/]`. `https` is refused: the generator speaks plain
    /// HTTP, as the server does behind its TLS terminator.
    pub(super) fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("--server must be an http:// URL (the load generator speaks plain HTTP): {url}");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("--server must be an origin, http://host:port, without a path: {url}");
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self { authority })
    }

    /// A `POST` of a JSON `body` to `path`, as the bytes that travel.
    pub(super) fn post_json(&self, path: &str, body: &str) -> Vec<u8> {
        let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            self.authority,
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body.as_bytes());
        r
    }

    /// A `GET` of `path`, as the bytes that travel.
    pub(super) fn get(&self, path: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.authority).into_bytes()
    }
}

/// One keep-alive connection.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
}

impl Conn {
    pub(super) async fn open(origin: &Origin) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(&origin.authority)
            .await
            .with_context(|| format!("connecting to {}", origin.authority))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads its whole answer; returns the status. An error leaves the
    /// connection unusable (the caller opens another).
    pub(super) async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, len)) = head(&self.buf)? {
                while self.buf.len() < len {
                    self.fill().await?;
                }
                self.buf.drain(..len);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

/// The answer at the start of `buf`, once its head is complete: its status and its whole
/// length (head and body). Answers without a `Content-Length` (chunked ones) are refused:
/// the server's JSON answers always carry one.
fn head(buf: &[u8]) -> anyhow::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = resp.parse(buf)? else {
        return Ok(None);
    };
    let status = resp.code.context("an answer without a status")?;
    let body_len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .context("an answer without Content-Length")
        .and_then(|h| {
            std::str::from_utf8(h.value)?
                .trim()
                .parse::<usize>()
                .context("a bad Content-Length")
        })?;
    Ok(Some((status, head_len + body_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_complete_only_with_its_whole_body() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(head(&answer[..10]).unwrap(), None);
        assert_eq!(head(answer).unwrap(), Some((200, answer.len())));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(head(chunked).is_err());
    }

    #[test]
    fn origins_are_plain_http_without_a_path() {
        assert_eq!(
            Origin::parse("http://127.0.0.1:8080/").unwrap().authority,
            "127.0.0.1:8080"
        );
        assert_eq!(
            Origin::parse("http://example.test").unwrap().authority,
            "example.test:80"
        );
        assert!(Origin::parse("https://example.test").is_err());
        assert!(Origin::parse("http://example.test/api").is_err());
        let get = Origin::parse("http://a:1").unwrap().get("/healthz");
        assert_eq!(get, b"GET /healthz HTTP/1.1\r\nHost: a:1\r\n\r\n");
    }

    /// Exchanges one after another on one connection to a real axum server: keep-alive
    /// works, and an answer's body is consumed before the next is read.
    #[tokio::test]
    async fn exchanges_follow_each_other_on_one_connection() {
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::post(|body: String| async move { body }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = Origin::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut conn = Conn::open(&origin).await.unwrap();
        for body in ["{\"a\":1}", "{}"] {
            let status = conn
                .exchange(&origin.post_json("/echo", body))
                .await
                .unwrap();
            assert_eq!(status, 200);
            assert!(conn.buf.is_empty());
        }
        assert_eq!(conn.exchange(&origin.get("/none")).await.unwrap(), 404);
    }
}
