//! `--format html` opened in real headless Chromium (skipped, with a note, where none is
//! installed): no console errors, no network request, the findings and table rows those of
//! the JSON report, sorting, filtering and expanding working, and one chart box per line of
//! the folded output. And without a browser: one file, nothing external.

mod common;

use common::fixture;
use common::live::{chromium, start_chromium, Proc};
use heapdiff::capture::cdp::Session;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn heapdiff(args: &[&str], inputs: &[PathBuf]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_heapdiff"))
        .args(["--quiet"])
        .args(args)
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn service(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| fixture(&format!("v8/service/{n}.heapsnapshot.gz")))
        .collect()
}

fn jemalloc_pair() -> Vec<PathBuf> {
    vec![
        fixture("jemalloc/exact.before.heap"),
        fixture("jemalloc/exact.after.heap"),
    ]
}

/// The report as a page in `dir`, with the JSON and folded output of the same run.
fn outputs(inputs: &[PathBuf], dir: &Path, name: &str) -> (PathBuf, Value, Vec<String>) {
    let page = dir.join(format!("{name}.html"));
    let html = heapdiff(&["--format", "html"], inputs);
    std::fs::write(&page, &html).unwrap();
    let json = common::schema::parse(&heapdiff(&["--format", "json"], inputs));
    let folded = String::from_utf8(heapdiff(&["--format", "folded"], inputs)).unwrap();
    let stacks = folded
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect();
    (page, json, stacks)
}

/// A page open in the browser, and what it did: console errors, requested URLs.
struct Page {
    session: Session,
    errors: Vec<String>,
    requests: Vec<String>,
    _browser: Proc,
    _profile: tempfile::TempDir,
}

impl Page {
    fn open(browser: &str, file: &Path) -> Page {
        let url = format!("file://{}", file.display());
        let (b, authority, profile) = start_chromium(browser, "about:blank");
        let deadline = Instant::now() + Duration::from_secs(30);
        let ws = loop {
            let targets = heapdiff::capture::endpoint::list_targets(&authority).unwrap();
            if let Some(t) = targets.iter().find(|t| t.kind == "page") {
                break t.ws_url.clone().unwrap();
            }
            assert!(Instant::now() < deadline, "no page target");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut page = Page {
            session: Session::connect(&ws).unwrap(),
            errors: Vec::new(),
            requests: Vec::new(),
            _browser: b,
            _profile: profile,
        };
        for domain in ["Runtime", "Log", "Network", "Page"] {
            page.call(&format!("{domain}.enable"), json!({}));
        }
        page.call("Page.navigate", json!({ "url": url }));
        while page.eval("document.readyState") != "complete" {
            assert!(Instant::now() < deadline, "the page never loaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        page
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let (errors, requests) = (&mut self.errors, &mut self.requests);
        self.session
            .call(method, params, &mut |m, p| {
                let p: Value = serde_json::from_str(p.get()).unwrap_or_default();
                match m {
                    "Runtime.exceptionThrown" => errors.push(p.to_string()),
                    "Runtime.consoleAPICalled"
                        if p["type"] == "error" || p["type"] == "warning" =>
                    {
                        errors.push(p.to_string())
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        errors.push(p.to_string())
                    }
                    "Network.requestWillBeSent" => {
                        requests.push(p["request"]["url"].as_str().unwrap_or("").to_string())
                    }
                    _ => {}
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r:#}");
        r["result"]["value"].clone()
    }

    fn strings(&mut self, expression: &str) -> Vec<String> {
        serde_json::from_value(self.eval(expression)).unwrap()
    }

    /// Nothing went wrong and nothing was fetched but the page itself.
    fn assert_clean(&self, file: &Path) {
        assert!(self.errors.is_empty(), "console errors: {:#?}", self.errors);
        let own = format!("file://{}", file.display());
        assert!(
            self.requests.iter().all(|u| *u == own),
            "requests: {:?}",
            self.requests
        );
    }
}

fn names(v: &Value, key: &str, field: &str, n: usize) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .take(n)
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const CHART_PATHS: &str =
    "[...document.querySelectorAll('#flame [data-path]')].map(b => b.dataset.path)";

#[test]
fn the_comparison_page_shows_the_json_report_and_works() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (file, json, folded) = outputs(&service(&["s1", "s2"]), dir.path(), "pair");
    let mut page = Page::open(browser, &file);
    // The findings, in the report's order.
    assert_eq!(
        page.strings(
            "[...document.querySelectorAll('details.finding')].map(d => d.dataset.fingerprint)"
        ),
        names(&json, "findings", "fingerprint", usize::MAX)
    );
    // The class table: the first 25 classes (--top), their numbers those of the JSON.
    let rows = "[...document.querySelectorAll('#classes tbody tr')]";
    assert_eq!(
        page.strings(&format!("{rows}.map(r => r.dataset.class)")),
        names(&json, "classes", "name", 25)
    );
    let headers =
        page.strings("[...document.querySelectorAll('#classes th')].map(h => h.textContent)");
    let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
    let new_col = col("# New");
    let added: Vec<u64> = serde_json::from_value(page.eval(&format!(
        "{rows}.map(r => Number(r.cells[{new_col}].dataset.v))"
    )))
    .unwrap();
    let want: Vec<u64> = json["classes"].as_array().unwrap()[..25]
        .iter()
        .map(|c| c["added_count"].as_u64().unwrap())
        .collect();
    assert_eq!(added, want);
    // Sorting: # New descending, then ascending.
    let values = format!("{rows}.map(r => Number(r.cells[{new_col}].dataset.v))");
    page.eval(&format!(
        "document.querySelectorAll('#classes th')[{new_col}].click()"
    ));
    let down: Vec<u64> = serde_json::from_value(page.eval(&values)).unwrap();
    let mut want_down = want.clone();
    want_down.sort_by(|a, b| b.cmp(a));
    assert_eq!(down, want_down);
    page.eval(&format!(
        "document.querySelectorAll('#classes th')[{new_col}].click()"
    ));
    let up: Vec<u64> = serde_json::from_value(page.eval(&values)).unwrap();
    want_down.reverse();
    assert_eq!(up, want_down);
    // Filtering by name.
    page.eval("const f = document.getElementById('class-filter'); f.value = 'cache'; f.dispatchEvent(new Event('input'))");
    assert_eq!(
        page.strings(&format!(
            "{rows}.filter(r => !r.hidden).map(r => r.dataset.class)"
        )),
        ["CacheEntry"]
    );
    // Expanding a finding shows its evidence, fix and path.
    assert_eq!(
        page.eval("document.querySelector('details.finding').open"),
        false
    );
    page.eval("document.querySelector('details.finding > summary').click()");
    assert_eq!(
        page.eval("document.querySelector('details.finding').open"),
        true
    );
    assert_eq!(
        page.eval("document.querySelector('details.finding .evidence').textContent"),
        json["findings"][0]["evidence"]
    );
    // The paths tree has each grown class of the table.
    let grown: Vec<String> = json["classes"].as_array().unwrap()[..25]
        .iter()
        .filter(|c| c.get("retainer_paths").is_some())
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        page.strings(
            "[...document.querySelectorAll('#paths > details')].map(d => d.dataset.class)"
        ),
        grown
    );
    // One chart box per folded line; zooming into one and back.
    assert_eq!(sorted(page.strings(CHART_PATHS)), sorted(folded.clone()));
    page.eval("document.querySelector('#flame [data-path]').click()");
    assert_eq!(page.eval("!!document.getElementById('flame-reset')"), true);
    page.eval("document.getElementById('flame-reset').click()");
    assert_eq!(page.strings(CHART_PATHS).len(), folded.len());
    page.assert_clean(&file);
}

#[test]
fn the_series_page_draws_each_trend() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (file, json, folded) = outputs(&service(&["s1", "s2", "s3"]), dir.path(), "series");
    let mut page = Page::open(browser, &file);
    let rows = "[...document.querySelectorAll('#classes tbody tr')]";
    assert_eq!(
        page.strings(&format!("{rows}.map(r => r.dataset.class)")),
        names(&json, "classes", "name", 25)
    );
    // A sparkline per class with a trend, its points the trend's values.
    let trends: Vec<String> = json["classes"].as_array().unwrap()[..25]
        .iter()
        .map(|c| {
            let t: Vec<String> = c["trend"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect();
            t.join(" → ")
        })
        .collect();
    assert_eq!(
        page.strings(&format!(
            "{rows}.map(r => r.querySelector('svg.spark title').textContent)"
        )),
        trends
    );
    assert_eq!(
        page.strings(
            "[...document.querySelectorAll('details.finding')].map(d => d.dataset.fingerprint)"
        ),
        names(&json, "findings", "fingerprint", usize::MAX)
    );
    assert_eq!(sorted(page.strings(CHART_PATHS)), sorted(folded));
    page.assert_clean(&file);
}

#[test]
fn the_jemalloc_page_shows_stacks_functions_and_their_chart() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (file, json, folded) = outputs(&jemalloc_pair(), dir.path(), "jemalloc");
    let mut page = Page::open(browser, &file);
    let stack_rows = "[...document.querySelectorAll('#stacks tbody tr')]";
    let want: Vec<String> = json["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .take(25)
        .map(|s| s["frames"][0].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        page.strings(&format!("{stack_rows}.map(r => r.dataset.stack)")),
        want
    );
    assert_eq!(
        page.strings(
            "[...document.querySelectorAll('#functions tbody tr')].map(r => r.dataset.function)"
        ),
        names(&json, "functions", "name", 25)
    );
    assert!(!folded.is_empty());
    assert_eq!(sorted(page.strings(CHART_PATHS)), sorted(folded));
    page.assert_clean(&file);
}

#[test]
fn the_page_is_one_file_that_loads_nothing() {
    let html = String::from_utf8(heapdiff(&["--format", "html"], &service(&["s1", "s2"]))).unwrap();
    // A policy that forbids every fetch, and no reference to anything outside the file.
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none';"));
    // (The SVG namespace is a name, not a fetch.)
    let html_checked = html.replace("http://www.w3.org/2000/svg", "");
    for external in ["src=", "href=", "http://", "https://", "@import", "url("] {
        assert!(!html_checked.contains(external), "{external} in the page");
    }
    // Heap data never closes its script element: one `</script>` per element.
    assert_eq!(html.matches("</script>").count(), 2);
    // The same redaction as every format: no planted secret.
    assert!(!html.contains("HDSECRET"));
}
