//! `tile-snapshot K IN OUT [IN2 OUT2 ...]`: write each OUT, a V8 heap snapshot holding K
//! copies of its IN's heap.
//!
//! Copy 0's root gains K-1 element edges, one to the root of each further copy; copy k's
//! nodes follow copy k-1's, their edges' targets and the `locations` shifted by the copy's
//! first node. The string table is shared; every other section is copied as it is. The
//! result is a heap V8 could have written for a process running K copies of the program
//! side by side.
//!
//! Ids: V8's are sparse (Node's embedder objects take ids past 10^9), so shifting them per
//! copy would overflow 32 bits. Every id of all the inputs is renumbered by its rank among
//! them (`copy * 2 * distinct + 2 * rank`, plus the id's parity, which V8 uses to tell object
//! kinds apart): inputs given together, such as two snapshots of one process, keep their
//! ids comparable copy by copy.
//!
//! Memory: one input's bytes and its numbers at a time (about 8 bytes per number).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;

fn fail(msg: String) -> ExitCode {
    eprintln!("tile-snapshot: {msg}");
    ExitCode::from(2)
}

/// Position just after `key` (e.g. `"nodes":`) in `buf`, from `from`.
fn find(buf: &[u8], from: usize, key: &[u8]) -> Option<usize> {
    buf[from..]
        .windows(key.len())
        .position(|w| w == key)
        .map(|p| from + p + key.len())
}

/// The integers of the JSON array starting at `buf[at] == b'['`, and the position after it.
fn ints(buf: &[u8], mut at: usize) -> Result<(Vec<u64>, usize), String> {
    while buf.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    if buf.get(at) != Some(&b'[') {
        return Err(format!("expected an array at byte {at}"));
    }
    at += 1;
    let mut out = Vec::new();
    let mut cur: Option<u64> = None;
    loop {
        let Some(&b) = buf.get(at) else {
            return Err("unterminated array".into());
        };
        at += 1;
        match b {
            b'0'..=b'9' => cur = Some(cur.unwrap_or(0) * 10 + (b - b'0') as u64),
            b',' | b']' | b' ' | b'\n' | b'\r' | b'\t' => {
                if let Some(v) = cur.take() {
                    out.push(v);
                }
                if b == b']' {
                    return Ok((out, at));
                }
            }
            _ => return Err(format!("unexpected byte {:?} in an array at {}", b as char, at - 1)),
        }
    }
}

/// The names of a `meta` field list such as `"node_fields":["type","name",...]`.
fn names(buf: &[u8], key: &[u8]) -> Result<Vec<String>, String> {
    let start = find(buf, 0, key).ok_or_else(|| format!("no {}", String::from_utf8_lossy(key)))?;
    let end = start + buf[start..].iter().position(|&b| b == b']').ok_or("unterminated meta")?;
    Ok(String::from_utf8_lossy(&buf[start..end])
        .trim_start_matches('[')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect())
}

struct Out {
    w: BufWriter<File>,
}

impl Out {
    fn num(&mut self, first: &mut bool, v: u64) -> std::io::Result<()> {
        let mut buf = [0u8; 21];
        let mut i = buf.len();
        let mut x = v;
        loop {
            i -= 1;
            buf[i] = b'0' + (x % 10) as u8;
            x /= 10;
            if x == 0 {
                break;
            }
        }
        if !*first {
            i -= 1;
            buf[i] = b',';
        }
        *first = false;
        self.w.write_all(&buf[i..])
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || fail("usage: tile-snapshot K IN OUT [IN2 OUT2 ...]".into());
    let Some((k, files)) = args.split_first() else {
        return usage();
    };
    let Ok(k) = k.parse::<u64>() else {
        return fail(format!("K must be a number, not {k}"));
    };
    if k == 0 || files.is_empty() || files.len() % 2 == 1 {
        return usage();
    }
    let pairs: Vec<(&str, &str)> = files
        .chunks_exact(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    // Every input's ids, ranked together.
    let mut ids: Vec<u64> = Vec::new();
    for (input, _) in &pairs {
        match read(input).and_then(|(buf, _)| node_ids(&buf)) {
            Ok(mut v) => ids.append(&mut v),
            Err(e) => return fail(format!("{input}: {e}")),
        }
        ids.sort_unstable();
        ids.dedup();
    }
    let span = 2 * ids.len() as u64 + 2;
    if k.saturating_mul(span) > u32::MAX as u64 {
        return fail(format!("{} distinct ids do not fit {k} copies in 32 bits", ids.len()));
    }
    for (input, output) in pairs {
        if let Err(e) = run(input, k, output, &ids, span) {
            let _ = std::fs::remove_file(output);
            return fail(format!("{input}: {e}"));
        }
        eprintln!("{output}: {k} copies of {input}");
    }
    ExitCode::SUCCESS
}

/// A file's bytes and its node field names.
fn read(input: &str) -> Result<(Vec<u8>, Vec<String>), String> {
    let mut buf = Vec::new();
    File::open(input)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| e.to_string())?;
    let fields = names(&buf, b"\"node_fields\":")?;
    Ok((buf, fields))
}

fn node_ids(buf: &[u8]) -> Result<Vec<u64>, String> {
    let fields = names(buf, b"\"node_fields\":")?;
    let id_f = fields.iter().position(|f| f == "id").ok_or("no id field")?;
    let at = find(buf, 0, b"\"nodes\":").ok_or("no nodes")?;
    let (nodes, _) = ints(buf, at)?;
    Ok(nodes.chunks_exact(fields.len()).map(|n| n[id_f]).collect())
}

fn run(input: &str, k: u64, output: &str, ids: &[u64], span: u64) -> Result<(), String> {
    let (buf, node_fields) = read(input)?;
    let edge_fields = names(&buf, b"\"edge_fields\":")?;
    let edge_types = names(&buf, b"\"edge_types\":[")?;
    let nf = node_fields.len() as u64;
    let ef = edge_fields.len();
    let field = |list: &[String], name: &str| {
        list.iter()
            .position(|f| f == name)
            .ok_or_else(|| format!("no {name} field"))
    };
    let (id_f, ec_f) = (field(&node_fields, "id")?, field(&node_fields, "edge_count")?);
    let (type_f, name_f, to_f) = (
        field(&edge_fields, "type")?,
        field(&edge_fields, "name_or_index")?,
        field(&edge_fields, "to_node")?,
    );
    let element = edge_types
        .iter()
        .position(|t| t == "element")
        .ok_or("no element edge type")? as u64;

    let nodes_at = find(&buf, 0, b"\"nodes\":").ok_or("no nodes")?;
    let (nodes, after_nodes) = ints(&buf, nodes_at)?;
    let edges_at = find(&buf, after_nodes, b"\"edges\":").ok_or("no edges")?;
    let (edges, after_edges) = ints(&buf, edges_at)?;
    let loc_at = find(&buf, after_edges, b"\"locations\":");
    let n = nodes.len() as u64 / nf;
    let new_id = |id: u64| -> Result<u64, String> {
        let rank = ids.binary_search(&id).map_err(|_| format!("id {id} not ranked"))? as u64;
        Ok(2 * rank + (id & 1))
    };
    let e_count = edges.len() as u64 / ef as u64;

    // The header, with the counts of the whole file.
    let header = &buf[..nodes_at - b"\"nodes\":".len()];
    let text = String::from_utf8_lossy(header);
    let text = replace_count(&text, "node_count", n * k)?;
    let text = replace_count(&text, "edge_count", e_count * k + (k - 1))?;
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, File::create(output).map_err(|e| e.to_string())?),
    };
    let io = |e: std::io::Error| e.to_string();
    out.w.write_all(text.as_bytes()).map_err(io)?;

    out.w.write_all(b"\"nodes\":[").map_err(io)?;
    let mut first = true;
    for c in 0..k {
        for i in 0..n {
            for f in 0..nf as usize {
                let mut v = nodes[(i * nf) as usize + f];
                if f == id_f {
                    v = c * span + new_id(v)?;
                }
                if f == ec_f && c == 0 && i == 0 {
                    v += k - 1;
                }
                out.num(&mut first, v).map_err(io)?;
            }
        }
    }
    out.w.write_all(b"],\n\"edges\":[").map_err(io)?;
    let mut first = true;
    let root_edges = nodes[ec_f];
    for c in 0..k {
        let shift = c * n * nf;
        for (j, e) in edges.chunks_exact(ef).enumerate() {
            for (f, &v) in e.iter().enumerate() {
                out.num(&mut first, if f == to_f { v + shift } else { v })
                    .map_err(io)?;
            }
            // Copy 0's root: after its own edges, one to each further copy's root.
            if c == 0 && j as u64 + 1 == root_edges {
                for r in 1..k {
                    for f in 0..ef {
                        let v = match f {
                            _ if f == type_f => element,
                            _ if f == name_f => r,
                            _ => r * n * nf,
                        };
                        out.num(&mut first, v).map_err(io)?;
                    }
                }
            }
        }
    }
    out.w.write_all(b"]").map_err(io)?;
    // Everything between the edges and the locations as it is; the locations of every copy.
    match loc_at {
        Some(at) => {
            let (locs, after) = ints(&buf, at)?;
            out.w
                .write_all(&buf[after_edges..at - b"\"locations\":".len()])
                .map_err(io)?;
            out.w.write_all(b"\"locations\":[").map_err(io)?;
            let mut first = true;
            for c in 0..k {
                for l in locs.chunks_exact(4) {
                    out.num(&mut first, l[0] + c * n * nf).map_err(io)?;
                    for &v in &l[1..] {
                        out.num(&mut first, v).map_err(io)?;
                    }
                }
            }
            out.w.write_all(b"]").map_err(io)?;
            out.w.write_all(&buf[after..]).map_err(io)?;
        }
        None => out.w.write_all(&buf[after_edges..]).map_err(io)?,
    }
    out.w.flush().map_err(io)?;
    Ok(())
}

/// `text` with the number after `"name":` replaced by `value`.
fn replace_count(text: &str, name: &str, value: u64) -> Result<String, String> {
    let key = format!("\"{name}\":");
    let at = text.find(&key).ok_or_else(|| format!("no {name}"))? + key.len();
    let end = at + text[at..]
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("bad {name}"))?;
    Ok(format!("{}{value}{}", &text[..at], &text[end..]))
}
