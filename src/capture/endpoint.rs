//! Where to capture from: `HOST:PORT` (Node `--inspect`, Chrome
//! `--remote-debugging-port`), a `ws://` debugger URL, or `pid:PID` (a local Node process,
//! whose inspector is opened with SIGUSR1). Only these addresses are contacted.

use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The target as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An inspector's HTTP endpoint; its targets are listed at `/json/list`.
    HostPort(String),
    /// A debugger WebSocket URL, used as it is.
    WebSocket(String),
    /// A local Node process.
    Pid(u32),
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(pid) = s.strip_prefix("pid:") {
            return pid
                .parse::<u32>()
                .ok()
                .filter(|&p| p > 0)
                .map(Endpoint::Pid)
                .ok_or_else(|| format!("{s}: pid: needs a process id (pid:1234)"));
        }
        if s.starts_with("ws://") {
            return Ok(Endpoint::WebSocket(s.to_string()));
        }
        if s.starts_with("wss://") || s.starts_with("http://") || s.starts_with("https://") {
            return Err(format!(
                "{s}: give HOST:PORT, a ws:// URL or pid:PID (the inspector speaks plain \
                 WebSocket on a local port)"
            ));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Endpoint::HostPort(s.to_string()))
            }
            _ => Err(format!(
                "{s}: not a target: give HOST:PORT (e.g. 127.0.0.1:9229), a ws:// URL or pid:PID"
            )),
        }
    }
}

/// One debuggable target from `/json/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(rename = "webSocketDebuggerUrl", default)]
    pub ws_url: Option<String>,
}

/// Open a TCP connection to `host:port`, trying each address it resolves to.
pub fn connect_tcp(authority: &str) -> Result<TcpStream, String> {
    let addrs = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?;
    let mut last = format!("{authority}: no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, super::cdp::CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("cannot connect to {authority}: {e}"),
        }
    }
    Err(last)
}

/// Largest `/json/list` answer read (a browser with many tabs lists a few KB each).
const MAX_LIST_BYTES: usize = 8 << 20;

/// `GET /json/list` on an inspector's HTTP endpoint.
pub fn list_targets(authority: &str) -> Result<Vec<Target>, String> {
    let mut s = connect_tcp(authority)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /json/list HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{authority}: {e}"))?;
    // Read until the answer is complete: Node's inspector keeps the connection open.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let mut read_more = |raw: &mut Vec<u8>| -> Result<usize, String> {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("{authority}: reading /json/list: {e}"))?;
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_LIST_BYTES {
            return Err(format!("{authority}: /json/list is larger than 8 MiB"));
        }
        Ok(n)
    };
    let (body_at, length, chunked) = loop {
        let n = read_more(&mut raw)?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&raw) {
            Ok(httparse::Status::Complete(at)) => {
                if resp.code != Some(200) {
                    return Err(format!(
                        "{authority}: /json/list answered HTTP {} (not an inspector endpoint?)",
                        resp.code.unwrap_or(0)
                    ));
                }
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                break (at, length, chunked);
            }
            Ok(httparse::Status::Partial) if n > 0 => continue,
            _ => {
                return Err(format!(
                    "{authority}: not an inspector endpoint (no HTTP answer to /json/list)"
                ))
            }
        }
    };
    let body = loop {
        let body = &raw[body_at..];
        let complete = match (length, chunked) {
            (Some(len), _) => body.get(..len).map(<[u8]>::to_vec),
            (None, true) => dechunk(body),
            (None, false) => None,
        };
        if let Some(b) = complete {
            break b;
        }
        if read_more(&mut raw)? == 0 {
            // The end of the stream ends a body without a length (or a short one).
            let body = &raw[body_at..];
            if chunked && length.is_none() {
                return Err(format!("{authority}: a broken chunked /json/list answer"));
            }
            break body.to_vec();
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| format!("{authority}: /json/list is not a target list ({e})"))
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// The target to capture: the one whose id is `filter` or whose URL or title contains it,
/// else the first page (Chrome) or Node process.
pub fn pick<'a>(
    targets: &'a [Target],
    filter: Option<&str>,
    authority: &str,
) -> Result<&'a Target, String> {
    let usable = |t: &&Target| t.ws_url.is_some();
    let found = match filter {
        Some(f) => targets
            .iter()
            .filter(usable)
            .find(|t| t.id == f)
            .or_else(|| {
                targets
                    .iter()
                    .filter(usable)
                    .find(|t| t.url.contains(f) || t.title.contains(f))
            }),
        None => targets
            .iter()
            .filter(usable)
            .find(|t| t.kind == "page" || t.kind == "node"),
    };
    found.ok_or_else(|| {
        let listed: Vec<String> = targets
            .iter()
            .map(|t| format!("{} {} {}", t.kind, t.id, t.url))
            .collect();
        match filter {
            Some(f) => format!(
                "{authority}: no target matches --target {f:?} (targets: {})",
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join("; ")
                }
            ),
            None => format!(
                "{authority}: no page or Node target to capture (targets: {})",
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join("; ")
                }
            ),
        }
    })
}

/// What was done to a process to open its inspector, said to the user.
pub struct Opened {
    pub authority: String,
    pub notice: String,
}

/// Open the inspector of local Node process `pid` with SIGUSR1 and find the port it
/// listens on (its own listening sockets, from /proc, before and after).
#[cfg(target_os = "linux")]
pub fn open_node_inspector(pid: u32) -> Result<Opened, String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map_err(|_| format!("pid:{pid}: no such process"))?;
    let comm = comm.trim();
    if !comm.contains("node") {
        return Err(format!(
            "pid:{pid}: {comm:?} is not a Node process (SIGUSR1 would end it); start it with \
             --inspect and give HOST:PORT"
        ));
    }
    let before = listening_ports(pid)?;
    // An inspector already open (--inspect, or an earlier SIGUSR1): use it.
    for &port in &before {
        let authority = format!("127.0.0.1:{port}");
        if list_targets(&authority).is_ok_and(|t| t.iter().any(|t| t.kind == "node")) {
            return Ok(Opened {
                notice: format!("pid:{pid}: its inspector was already open on {authority}"),
                authority,
            });
        }
    }
    // SAFETY: kill(2) with a valid signal number has no memory effects.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) } != 0 {
        return Err(format!(
            "pid:{pid}: cannot signal it: {}",
            std::io::Error::last_os_error()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        for port in listening_ports(pid)? {
            if before.contains(&port) {
                continue;
            }
            let authority = format!("127.0.0.1:{port}");
            if list_targets(&authority).is_ok() {
                return Ok(Opened {
                    notice: format!(
                        "pid:{pid}: sent SIGUSR1; its inspector now listens on {authority} until \
                         the process exits, and whoever reaches that port can run code in it. \
                         To close it: require('node:inspector').close() in the process, or \
                         restart it"
                    ),
                    authority,
                });
            }
        }
    }
    Err(format!(
        "pid:{pid}: sent SIGUSR1, but no inspector opened within 10 s (its port may be taken: \
         see the process's stderr)"
    ))
}

#[cfg(not(target_os = "linux"))]
pub fn open_node_inspector(pid: u32) -> Result<Opened, String> {
    Err(format!(
        "pid:{pid}: opening a process's inspector needs Linux's /proc; start it with \
         --inspect and give HOST:PORT"
    ))
}

/// TCP ports process `pid` listens on (IPv4 and IPv6), from its socket descriptors and the
/// kernel's socket tables.
#[cfg(target_os = "linux")]
fn listening_ports(pid: u32) -> Result<Vec<u16>, String> {
    let mut inodes = std::collections::HashSet::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("pid:{pid}: cannot read its descriptors: {e}"))?;
    for fd in fds.flatten() {
        if let Ok(link) = std::fs::read_link(fd.path()) {
            let link = link.to_string_lossy();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXADDR:HEXPORT, st 0A is LISTEN, inode is field 9.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                if let Some(port) = f[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                {
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
            }
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:9229"),
            Ok(Endpoint::HostPort("127.0.0.1:9229".into()))
        );
        assert_eq!(
            Endpoint::parse("localhost:9222"),
            Ok(Endpoint::HostPort("localhost:9222".into()))
        );
        assert_eq!(Endpoint::parse("pid:42"), Ok(Endpoint::Pid(42)));
        assert!(Endpoint::parse("pid:0").is_err());
        assert!(Endpoint::parse("pid:x").is_err());
        assert!(Endpoint::parse("9229").is_err());
        assert!(Endpoint::parse("host:99999").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:9229").is_err());
        assert!(matches!(
            Endpoint::parse("ws://127.0.0.1:9229/abc"),
            Ok(Endpoint::WebSocket(_))
        ));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n").as_deref(),
            Some(&b"[1,2]"[..])
        );
        assert_eq!(dechunk(b"5\r\n[1"), None);
    }

    #[test]
    fn the_first_page_or_node_target_unless_filtered() {
        let t = |id: &str, kind: &str, url: &str| Target {
            id: id.into(),
            kind: kind.into(),
            title: String::new(),
            url: url.into(),
            ws_url: Some(format!("ws://h:1/{id}")),
        };
        let list = vec![
            t("w", "service_worker", "https://a/sw.js"),
            t("p1", "page", "https://a/one"),
            t("p2", "page", "https://a/two"),
        ];
        assert_eq!(pick(&list, None, "h:1").unwrap().id, "p1");
        assert_eq!(pick(&list, Some("two"), "h:1").unwrap().id, "p2");
        assert_eq!(pick(&list, Some("w"), "h:1").unwrap().id, "w");
        let err = pick(&list, Some("nothing"), "h:1").unwrap_err();
        assert!(err.contains("no target matches") && err.contains("page p2 https://a/two"));
    }
}
