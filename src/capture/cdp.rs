//! A DevTools-protocol client: one WebSocket session, commands by id, events on the way.
//!
//! Node's inspector and Chrome speak the same protocol: JSON messages, a command
//! `{"id", "method", "params"}` answered by `{"id", "result"}` or `{"id", "error"}`, and
//! events `{"method", "params"}` in between (a heap snapshot arrives as
//! `HeapProfiler.addHeapSnapshotChunk` events before its command's answer). Messages are
//! handled one at a time and never kept, so a snapshot streams through in chunks.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long the session waits for any message (an answer, a chunk, a progress event) before
/// it says the target stopped responding.
pub const QUIET_LIMIT: Duration = Duration::from_secs(120);
/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One message from the target, fields borrowed from its text.
#[derive(Deserialize)]
struct Incoming<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ProtocolError>,
}

#[derive(Deserialize)]
struct ProtocolError {
    message: String,
}

/// Why a session failed.
#[derive(Debug)]
pub enum CdpError {
    /// The connection closed or broke.
    Closed(String),
    /// No message for [`QUIET_LIMIT`].
    Silent,
    /// The target answered a command with an error.
    Command { method: String, message: String },
    /// A message that is not the protocol's JSON.
    Garbled(String),
    /// The event handler gave up (its own error, e.g. a full disk).
    Handler(std::io::Error),
}

impl std::fmt::Display for CdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CdpError::Closed(why) => write!(f, "the connection closed ({why})"),
            CdpError::Silent => write!(
                f,
                "no message from the target for {} s",
                QUIET_LIMIT.as_secs()
            ),
            CdpError::Command { method, message } => write!(f, "{method} failed: {message}"),
            CdpError::Garbled(why) => write!(f, "not a DevTools protocol message ({why})"),
            CdpError::Handler(e) => write!(f, "{e}"),
        }
    }
}

/// An open protocol session.
pub struct Session {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl Session {
    /// Connect to a `ws://host:port/path` debugger URL.
    pub fn connect(url: &str) -> Result<Session, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let stream = super::endpoint::connect_tcp(authority)?;
        stream
            .set_read_timeout(Some(QUIET_LIMIT))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        // Chunks are small, but a target may send a large answer; the defaults (64 MiB a
        // message, 16 MiB a frame) bound what one message can make us allocate.
        let config = WebSocketConfig::default();
        let (ws, _) = tungstenite::client::client_with_config(url, stream, Some(config))
            .map_err(|e| format!("WebSocket handshake with {url} failed: {e}"))?;
        Ok(Session { ws, next_id: 1 })
    }

    /// Send `method` with `params` (a JSON object or `null`) and wait for its answer; every
    /// event before it goes to `on_event(method, params)`. Returns the answer's `result`.
    pub fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
        on_event: &mut dyn FnMut(&str, &RawValue) -> std::io::Result<()>,
    ) -> Result<serde_json::Value, CdpError> {
        let id = self.next_id;
        self.next_id += 1;
        let text = serde_json::json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(text))
            .map_err(|e| CdpError::Closed(e.to_string()))?;
        loop {
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(CdpError::Silent)
                }
                Err(e) => return Err(CdpError::Closed(e.to_string())),
            };
            let text = match &msg {
                Message::Text(t) => t.as_str(),
                Message::Close(_) => return Err(CdpError::Closed("closed by the target".into())),
                // Pings are answered by the library; binary frames are not part of the protocol.
                _ => continue,
            };
            let m: Incoming<'_> =
                serde_json::from_str(text).map_err(|e| CdpError::Garbled(e.to_string()))?;
            if m.id == Some(id) {
                if let Some(err) = m.error {
                    return Err(CdpError::Command {
                        method: method.to_string(),
                        message: err.message,
                    });
                }
                return match m.result {
                    Some(r) => {
                        serde_json::from_str(r.get()).map_err(|e| CdpError::Garbled(e.to_string()))
                    }
                    None => Ok(serde_json::Value::Null),
                };
            }
            if let (Some(method), Some(params)) = (m.method, m.params) {
                on_event(&method, params).map_err(CdpError::Handler)?;
            }
        }
    }

    /// Close the session politely (errors ignored: the target may be gone).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
