//! `hearsay sim` from the outside: every scenario at a small size gives the
//! same JSON for the same seed and sensible figures, `--plot` writes a
//! well-formed SVG with both panels, and bad command lines fail with one
//! line that names what to fix.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn hearsay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .arg("sim")
        .args(args)
        .output()
        .expect("the hearsay binary runs")
}

/// Runs twice with the same seed; both must print the same JSON object.
fn same_json_twice(args: &[&str]) -> Value {
    let first = hearsay(args);
    assert!(
        first.status.success(),
        "hearsay sim {args:?} failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = hearsay(args);
    assert!(second.status.success());
    let text = String::from_utf8(first.stdout).expect("UTF-8 output");
    assert_eq!(
        text,
        String::from_utf8(second.stdout).unwrap(),
        "hearsay sim {args:?}: two runs with one seed differ"
    );
    assert_eq!(text.lines().count(), 1, "one JSON object on one line");
    serde_json::from_str(&text).expect("valid JSON")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

fn last_curve_value(v: &Value) -> f64 {
    let points = v["curve"]["points"].as_array().expect("curve points");
    points.last().expect("a point at least")[1]
        .as_f64()
        .unwrap()
}

#[test]
fn rollout_is_deterministic_and_converges() {
    let v = same_json_twice(&["rollout", "--nodes", "24", "--seed", "7", "--json"]);
    assert_eq!(v["scenario"], "rollout");
    assert_eq!(v["nodes"], 24);
    assert!(f(&v, "join_converged_s") > 0.0, "{v}");
    assert!(
        f(&v, "pairs_known_50_s") <= f(&v, "pairs_known_99_s"),
        "{v}"
    );
    assert_eq!(last_curve_value(&v), 1.0, "every pair known at the end");
    assert!(
        v.get("wall_s").is_none(),
        "wall time is not part of the JSON"
    );
}

#[test]
fn crash_is_deterministic_and_detected_by_every_survivor() {
    let v = same_json_twice(&["crash", "--nodes", "24", "--crash", "2", "--json"]);
    assert_eq!(v["crashed"], 2);
    assert_eq!(v["expected"], 2 * 22);
    assert_eq!(v["detected"], v["expected"], "{v}");
    assert!(f(&v, "all_detected_s") > 0.0);
    assert!(f(&v["detection_s"], "p50") > 0.0);
    assert_eq!(v["false_positives"], 0);
    assert_eq!(last_curve_value(&v), 1.0);
    let counts: u64 = v["histogram"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 44, "the histogram counts every detection");
}

#[test]
fn partition_is_deterministic_detects_the_other_side_and_remerges() {
    let v = same_json_twice(&["partition", "--nodes", "24", "--duration", "45", "--json"]);
    assert_eq!(v["sides"], serde_json::json!([12, 12]));
    assert_eq!(v["cross_pairs"], 2 * 12 * 12);
    assert_eq!(v["detected"], v["cross_pairs"], "{v}");
    assert!(f(&v, "all_detected_s") > 0.0 && f(&v, "all_detected_s") <= 45.0);
    assert!(f(&v, "remerge_s") >= 0.0, "re-merged after the heal: {v}");
    assert_eq!(last_curve_value(&v), 1.0);
    let lowest = v["curve"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .fold(1.0, f64::min);
    assert_eq!(lowest, 0.0, "no pair across the split saw the other alive");
}

#[test]
fn loss_is_deterministic_and_the_crash_is_still_detected() {
    let v = same_json_twice(&[
        "loss",
        "--nodes",
        "24",
        "--duration",
        "60",
        "--loss",
        "0.15",
        "--json",
    ]);
    assert_eq!(f(&v, "loss"), 0.15);
    assert_eq!(f(&v, "watched_s"), 60.0, "loss watches the whole time");
    assert_eq!(v["detected"], v["expected"], "{v}");
    // Another seed gives another run.
    let other = same_json_twice(&[
        "loss",
        "--nodes",
        "24",
        "--duration",
        "60",
        "--loss",
        "0.15",
        "--seed",
        "2",
        "--json",
    ]);
    assert_ne!(v, other);
}

#[test]
fn slow_nodes_is_deterministic_and_lifeguard_spares_healthy_nodes() {
    let v = same_json_twice(&[
        "slow-nodes",
        "--nodes",
        "24",
        "--slow",
        "2",
        "--duration",
        "90",
        "--json",
    ]);
    assert_eq!(v["slow"], 2);
    assert_eq!(v["slow_delay_ms"], serde_json::json!([1000, 3000]));
    assert_eq!(v["false_deaths_healthy"], 0, "{v}");
    assert!(v["settings"]["lifeguard"].as_bool().unwrap());
    assert!(
        v["histogram"]["note"]
            .as_str()
            .unwrap()
            .contains("nothing to detect"),
        "{v}"
    );
}

#[test]
fn churn_is_deterministic_and_settles() {
    let v = same_json_twice(&[
        "churn",
        "--nodes",
        "24",
        "--duration",
        "60",
        "--churn-interval",
        "5",
        "--downtime",
        "15",
        "--json",
    ]);
    let departures = v["leaves"].as_u64().unwrap() + v["crashes"].as_u64().unwrap();
    assert!(departures >= 10, "a departure every 5 s for 60 s: {v}");
    assert!(v["rejoins"].as_u64().unwrap() > 0);
    assert!(f(&v, "accuracy_min") < 1.0, "departures show in the views");
    assert!(f(&v, "settled_s") >= 0.0, "views right again after: {v}");
    assert_eq!(last_curve_value(&v), 1.0);
}

#[test]
fn standard_is_the_default_and_keeps_its_keys() {
    let strip = |args: &[&str]| {
        let out = hearsay(args);
        assert!(out.status.success());
        let mut v: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        let map = v.as_object_mut().unwrap();
        assert!(map.remove("wall_s").is_some());
        assert!(map.remove("peak_rss_mb").is_some());
        v
    };
    let a = strip(&["--nodes", "20", "--json"]);
    let b = strip(&["standard", "--nodes", "20", "--json"]);
    assert_eq!(a, b, "standard is the default and deterministic");
    for key in [
        "nodes",
        "seed",
        "profile",
        "loss",
        "join_converged_s",
        "dissemination_s",
        "detection_s",
        "false_positives",
        "bytes_per_node_s",
        "msgs_per_node_s",
    ] {
        assert!(a.get(key).is_some(), "{key} missing from {a}");
    }
}

#[test]
fn protocol_knobs_change_the_run() {
    let base = same_json_twice(&["crash", "--nodes", "20", "--json"]);
    let fast = same_json_twice(&[
        "crash",
        "--nodes",
        "20",
        "--probe-interval",
        "500",
        "--probe-timeout",
        "200ms",
        "--suspicion-mult",
        "2",
        "--json",
    ]);
    assert_eq!(fast["settings"]["probe_interval_ms"], 500);
    assert_eq!(fast["settings"]["probe_timeout_ms"], 200);
    assert!(
        f(&fast["detection_s"], "p50") < f(&base["detection_s"], "p50"),
        "faster probes and a shorter suspicion detect sooner: {} vs {}",
        fast["detection_s"],
        base["detection_s"]
    );
}

fn temp_svg(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hearsay-cli-sim-{}-{name}.svg", std::process::id()))
}

#[test]
fn plot_writes_well_formed_svg_with_both_panels() {
    for (scenario, extra) in [
        ("crash", &["--crash", "2"][..]),
        ("slow-nodes", &["--duration", "30"][..]),
    ] {
        let path = temp_svg(scenario);
        let _ = std::fs::remove_file(&path);
        let mut args = vec![scenario, "--nodes", "20", "--plot", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = hearsay(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = std::fs::read_to_string(&path).expect("the plot was written");
        std::fs::remove_file(&path).unwrap();
        check_well_formed(&svg).unwrap_or_else(|e| panic!("{scenario}: malformed SVG: {e}"));
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("Convergence over virtual time"));
        assert!(svg.contains("Detection times"));
        assert!(svg.contains("<polyline"), "the curve is drawn");
        if scenario == "crash" {
            assert!(svg.contains("fill=\"#ff7f0e\""), "histogram bars drawn");
        } else {
            assert!(
                svg.contains("nothing to detect"),
                "the empty panel says why"
            );
        }
    }
}

/// A small XML well-formedness check: one root, tags balanced and nested,
/// attributes quoted, only the five named entities or character references.
fn check_well_formed(xml: &str) -> Result<(), String> {
    let mut rest = xml.trim_start();
    if let Some(after) = rest.strip_prefix("<?xml") {
        rest = &after[after.find("?>").ok_or("unterminated declaration")? + 2..];
    }
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        if stack.is_empty() && !rest[..lt].trim().is_empty() {
            return Err("text outside the root".into());
        }
        rest = &rest[lt + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = &after[after.find("-->").ok_or("unterminated comment")? + 3..];
            continue;
        }
        let gt = tag_end(rest)?;
        let tag = &rest[..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || ":-_.".contains(c))
        {
            return Err(format!("bad tag name in <{tag}>"));
        }
        check_attributes(&body[name_end..])?;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    check_text(rest)?;
    if !rest.trim().is_empty() {
        return Err("text after the root".into());
    }
    match (stack.is_empty(), roots) {
        (true, 1) => Ok(()),
        (false, _) => Err(format!("unclosed: {stack:?}")),
        (true, n) => Err(format!("{n} root elements")),
    }
}

/// Index of the `>` ending a tag, skipping quoted attribute values.
fn tag_end(s: &str) -> Result<usize, String> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Ok(i),
            (_, '<') => return Err("'<' inside a tag".into()),
            _ => {}
        }
    }
    Err("unterminated tag".into())
}

fn check_attributes(mut s: &str) -> Result<(), String> {
    let mut names = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s
            .find('=')
            .ok_or_else(|| format!("attribute without value: {s}"))?;
        let name = s[..eq].trim();
        if name.is_empty() || names.contains(&name) {
            return Err(format!("empty or repeated attribute {name:?}"));
        }
        names.push(name);
        let value = s[eq + 1..].trim_start();
        let q = value.chars().next().ok_or("missing attribute value")?;
        if q != '"' && q != '\'' {
            return Err(format!("unquoted attribute {name}"));
        }
        let close = value[1..].find(q).ok_or("unterminated attribute value")?;
        check_text(&value[1..1 + close])?;
        s = &value[close + 2..];
    }
}

fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        rest = &rest[amp + 1..];
        let semi = rest.find(';').ok_or("bare '&'")?;
        let entity = &rest[..semi];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
            || entity
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || entity
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &rest[semi + 1..];
    }
    if text.contains("]]>") {
        return Err("']]>' in text".into());
    }
    Ok(())
}

#[test]
fn the_checker_rejects_malformed_xml() {
    assert!(check_well_formed("<svg><g></svg>").is_err());
    assert!(check_well_formed("<svg a=1/>").is_err());
    assert!(check_well_formed("<svg>a & b</svg>").is_err());
    assert!(check_well_formed("<svg/><svg/>").is_err());
    assert!(check_well_formed("<?xml version=\"1.0\"?><svg><t>&lt;</t></svg>").is_ok());
}

#[test]
fn bad_command_lines_fail_with_one_line_that_says_what_to_fix() {
    let cases: &[(&[&str], &str)] = &[
        (&["--nodez", "20"], "--nodes"),
        (&["crash", "--bogus"], "unknown flag '--bogus'"),
        (&["--nodes", "abc"], "--nodes abc"),
        (&["crash", "--nodes", "1"], "from 2"),
        (&["--profile", "foo"], "lan, wan or local"),
        (&["explode"], "unknown scenario 'explode'"),
        (&["loss", "--loss", "1.5"], "--loss 1.5"),
        (
            &["crash", "--probe-interval", "fast"],
            "--probe-interval fast",
        ),
        (
            &["crash", "--probe-timeout", "2000"],
            "below --probe-interval",
        ),
        (&["rollout", "--crash", "2"], "--crash applies to"),
        (&["crash", "--nodes", "10", "--crash", "9"], "--crash 9"),
        (&["crash", "--plot", "out.png"], ".svg"),
        (&["--plot", "out.svg"], "needs a named scenario"),
        (&["crash", "--seed"], "--seed needs a value"),
        (&["slow-nodes", "--slow-delay", "3000"], "--slow-delay 3000"),
    ];
    for (args, expect) in cases {
        let out = hearsay(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "hearsay sim {args:?} should fail"
        );
        assert!(
            out.stdout.is_empty(),
            "hearsay sim {args:?} printed to stdout"
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr.lines().count(),
            1,
            "hearsay sim {args:?}: one line expected, got {stderr:?}"
        );
        assert!(stderr.starts_with("hearsay: "), "{stderr:?}");
        assert!(
            stderr.contains(expect),
            "hearsay sim {args:?}: {stderr:?} should mention {expect:?}"
        );
    }
}

#[test]
fn help_lists_every_scenario() {
    let out = hearsay(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for scenario in [
        "standard",
        "rollout",
        "crash",
        "partition",
        "loss",
        "slow-nodes",
        "churn",
    ] {
        assert!(text.contains(scenario), "{scenario} missing from the help");
    }
}
