//! The nightly leak-check jobs in `examples/ci/`: each CI file's script part, taken out of the
//! YAML as the CI would run it (GitHub's `run:` steps after the heapdiff install, GitLab's
//! `script:` list), runs here in bash with the variables the file sets, plus this machine's
//! ports, against the leaking service `tests/capture/session-service.js` and the heapdiff under
//! test. Skipped, with a note, without Node.

mod common;

use common::live::have;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(rel: &str) -> Yaml {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one YAML document");
    docs.remove(0)
}

fn node_or_skip() -> bool {
    let ok = have("node", "--version");
    if !ok {
        eprintln!("note: node is not installed; the CI example tests are skipped");
    }
    ok
}

/// What a CI file runs for the check: its shell lines and the variables they see.
#[derive(Debug)]
struct ScriptPart {
    env: Vec<(String, String)>,
    script: String,
}

impl ScriptPart {
    /// The value the script sees: the last one set (a step's `env:` over the job's).
    fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} is not set: {self:?}"))
    }
}

/// A mapping of variables (`env:`, `variables:`), with GitLab's `{value: …}` form.
fn variables(y: &Yaml, out: &mut Vec<(String, String)>) {
    let Some(h) = y.as_hash() else { return };
    for (k, v) in h {
        let v = match v {
            Yaml::Hash(_) => &v["value"],
            _ => v,
        };
        let value = match v {
            Yaml::String(s) | Yaml::Real(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            Yaml::Boolean(b) => b.to_string(),
            other => panic!("variable {k:?}: {other:?}"),
        };
        out.push((k.as_str().unwrap().to_string(), value));
    }
}

/// GitHub Actions: the `run:` steps after the step that installs heapdiff, with the
/// workflow's, the job's and each step's `env:`. Also checks the artifact upload.
fn github_script_part(wf: &Yaml) -> ScriptPart {
    assert!(
        !wf["on"]["schedule"][0]["cron"].is_badvalue(),
        "a nightly cron"
    );
    assert!(
        !wf["on"]["workflow_dispatch"].is_badvalue(),
        "runnable by hand"
    );
    let jobs = wf["jobs"].as_hash().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = jobs.values().next().unwrap();
    let mut env = Vec::new();
    variables(&wf["env"], &mut env);
    variables(&job["env"], &mut env);
    let steps = job["steps"].as_vec().unwrap();
    let install = steps
        .iter()
        .position(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo install"))
        })
        .expect("a step that installs heapdiff");
    let mut script = String::new();
    for step in &steps[install + 1..] {
        if let Some(run) = step["run"].as_str() {
            assert!(step["working-directory"].is_badvalue() && step["shell"].is_badvalue());
            variables(&step["env"], &mut env);
            script.push_str(run);
            script.push('\n');
        }
    }
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an artifact upload");
    assert_eq!(upload["if"].as_str(), Some("always()"));
    // Expressions are GitHub's to expand: the part run here must not need them.
    assert!(
        !script.contains("${{") && env.iter().all(|(_, v)| !v.contains("${{")),
        "{script}\n{env:?}"
    );
    let part = ScriptPart { env, script };
    assert_eq!(
        upload["with"]["path"].as_str(),
        Some(format!("{}/", part.var("OUT_DIR")).as_str()),
        "the artifact is what leak-check.sh writes"
    );
    part
}

/// GitLab CI: the `script:` list of the job that runs the check, with the file's and the
/// job's `variables:`. Also checks the schedule rule and the artifacts.
fn gitlab_script_part(ci: &Yaml) -> ScriptPart {
    const NOT_JOBS: &[&str] = &[
        "default",
        "include",
        "stages",
        "variables",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    ];
    let jobs: Vec<&Yaml> = ci
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str().unwrap();
            !k.starts_with('.') && !NOT_JOBS.contains(&k)
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(jobs.len(), 1);
    let job = jobs[0];
    let rules = job["rules"].as_vec().unwrap();
    assert!(rules.iter().any(|r| r["if"]
        .as_str()
        .is_some_and(|c| c.contains(r#"$CI_PIPELINE_SOURCE == "schedule""#))));
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    assert!(artifacts["expose_as"].as_str().is_some());
    let mut env = Vec::new();
    variables(&ci["variables"], &mut env);
    variables(&job["variables"], &mut env);
    let mut script = String::new();
    for line in job["script"].as_vec().unwrap() {
        script.push_str(line.as_str().unwrap());
        script.push('\n');
    }
    let part = ScriptPart { env, script };
    assert_eq!(
        artifacts["paths"][0].as_str(),
        Some(format!("{}/", part.var("OUT_DIR")).as_str()),
        "the artifact is what leak-check.sh writes"
    );
    part
}

fn free_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Processes whose command line mentions `needle` (the ports are unique to one run).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

struct Run {
    out: Output,
    dir: tempfile::TempDir,
    service_port: u16,
    inspect_port: u16,
}

impl Run {
    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("leak-check")
    }
    fn summary(&self) -> PathBuf {
        self.dir.path().join("step-summary.md")
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Run the script part in bash from the repository's root, as a CI runner would from the
/// checkout (`-eo pipefail`, as both run it), with this machine's overrides: free ports, the
/// service under test with its load on `load_path`, 3 snapshots 3 s apart, the heapdiff under
/// test; then `overrides`.
fn run_locally(
    part: &ScriptPart,
    load_path: &str,
    overrides: &[(&str, &str)],
    step_summary: bool,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (service, inspector) = (free_port(), free_port());
    let service_port = service.local_addr().unwrap().port();
    let inspect_port = inspector.local_addr().unwrap().port();
    drop((service, inspector));
    let out_dir = dir.path().join("leak-check");
    let mut cmd = Command::new("bash");
    cmd.args([
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        "-c",
        &part.script,
    ])
    .current_dir(repo())
    .stdin(Stdio::null())
    .env_remove("GITHUB_STEP_SUMMARY")
    .envs(part.env.iter().map(|(k, v)| (k, v)))
    .env(
        "SERVICE_CMD",
        format!("node --inspect=127.0.0.1:{inspect_port} tests/capture/session-service.js"),
    )
    .env("SERVICE_PORT", service_port.to_string())
    .env("INSPECT_PORT", inspect_port.to_string())
    .env(
        "READY_URL",
        format!("http://127.0.0.1:{service_port}/health"),
    )
    .env(
        "LOAD_URL",
        format!("http://127.0.0.1:{service_port}{load_path}"),
    )
    .env("SNAPSHOTS", "3")
    .env("INTERVAL", "3s")
    .env("OUT_DIR", &out_dir)
    .env("HEAPDIFF", env!("CARGO_BIN_EXE_heapdiff"))
    .envs(overrides.iter().copied());
    if step_summary {
        cmd.env("GITHUB_STEP_SUMMARY", dir.path().join("step-summary.md"));
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the script part ran over 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        out,
        dir,
        service_port,
        inspect_port,
    }
}

/// Nothing the check started is left: no process on its ports, none that names them.
fn assert_nothing_left(run: &Run) {
    for port in [run.service_port, run.inspect_port] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something still listens on {port}"
        );
        let left = processes_mentioning(&format!("127.0.0.1:{port}"));
        assert!(left.is_empty(), "left running: {left:?}");
    }
}

/// The run found the `sessions` leak and failed the job, and left everything the artifact
/// should hold.
fn assert_leak_found(run: &Run) {
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(1), "{stderr}");
    let out = run.out_dir();
    for n in 1..=3 {
        let snap = out.join(format!("snapshots/{n}.heapsnapshot.gz"));
        assert!(snap.is_file(), "{} missing\n{stderr}", snap.display());
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("sessions"), "{md}");
    assert!(md.contains("## Gate: breached"), "{md}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["mode"], "series");
    let cache = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "cache" && f["owner"] == "sessions")
        .unwrap_or_else(|| panic!("no cache finding for sessions: {:#}", r["findings"]));
    assert_eq!(cache["severity"], "high");
    assert_eq!(r["gate"]["breached"], true);
    let load = std::fs::read_to_string(out.join("load.log")).unwrap();
    assert!(load.contains("/login"), "{load}");
    assert!(out.join("service.log").is_file());
    assert_nothing_left(run);
}

#[test]
fn github_actions_job_finds_the_leak_and_fails() {
    let wf = load("examples/ci/github-actions.yml");
    let part = github_script_part(&wf);
    assert!(
        part.script.contains("examples/ci/leak-check.sh"),
        "{part:?}"
    );
    assert!(part.var("HEAPDIFF_ARGS").contains("--fail-on high"));
    if !node_or_skip() {
        return;
    }
    let run = run_locally(&part, "/login", &[], true);
    assert_leak_found(&run);
    // The job's summary: the verdict, then the report.
    let summary = std::fs::read_to_string(run.summary()).unwrap();
    assert!(
        summary.starts_with("# Leak check: failed: the gate was breached"),
        "{summary}"
    );
    assert!(summary.contains("sessions"), "{summary}");
}

#[test]
fn gitlab_ci_job_finds_the_leak_and_fails() {
    let ci = load("examples/ci/gitlab-ci.yml");
    let part = gitlab_script_part(&ci);
    assert!(
        part.script.contains("examples/ci/leak-check.sh"),
        "{part:?}"
    );
    assert!(part.var("HEAPDIFF_ARGS").contains("--fail-on high"));
    if !node_or_skip() {
        return;
    }
    let run = run_locally(&part, "/login", &[], false);
    assert_leak_found(&run);
    assert!(!run.summary().exists(), "no step summary outside GitHub");
}

/// The same job on a route that keeps nothing: the gate passes, exit 0.
#[test]
fn no_leak_passes() {
    if !node_or_skip() {
        return;
    }
    let part = github_script_part(&load("examples/ci/github-actions.yml"));
    let run = run_locally(&part, "/health", &[], true);
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(0), "{stderr}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(run.out_dir().join("report.json")).unwrap()).unwrap();
    assert_eq!(r["gate"]["breached"], false, "{:#}", r["findings"]);
    let summary = std::fs::read_to_string(run.summary()).unwrap();
    assert!(summary.starts_with("# Leak check: passed"), "{summary}");
    assert_nothing_left(&run);
}

/// A service that never comes up: exit 2 (not 1: that would read as a leak), the service's
/// last words on stderr, nothing left running.
#[test]
fn a_service_that_does_not_start_is_an_error() {
    if !node_or_skip() {
        return;
    }
    let part = github_script_part(&load("examples/ci/github-actions.yml"));
    let run = run_locally(
        &part,
        "/health",
        &[(
            "SERVICE_CMD",
            "node -e 'console.error(\"cannot read config\"); process.exit(3)'",
        )],
        true,
    );
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the service exited") && stderr.contains("cannot read config"),
        "{stderr}"
    );
    let summary = std::fs::read_to_string(run.summary()).unwrap();
    assert!(
        summary.starts_with("# Leak check: could not run"),
        "{summary}"
    );
    assert_nothing_left(&run);
}

#[test]
fn leak_check_sh_is_shellcheck_clean() {
    if !have("shellcheck", "--version") {
        eprintln!("note: shellcheck is not installed; not checked");
        return;
    }
    let out = Command::new("shellcheck")
        .arg(repo().join("examples/ci/leak-check.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
