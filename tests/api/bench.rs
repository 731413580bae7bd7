//! The benchmark harness runs end to end (`--quick`), so it cannot rot. No timings are
//! asserted here: speed is reported by the harness, not judged by tests.

use serde_json::Value;
use std::process::Command;

#[test]
fn the_quick_benchmark_runs_every_scenario_and_writes_json() {
    // Its last scenario runs on PostgreSQL.
    crate::helpers::require_postgres();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_marketchat-bench"))
        .args(["--quick", "--json"])
        .arg(&json)
        .output()
        .expect("run marketchat-bench");
    assert!(output.status.success(), "bench failed: {}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    for scenario in ["floor", "send", "history", "read", "chats", "fanout", "postgres"] {
        let rows: Vec<&Value> = results.iter().filter(|r| r["scenario"] == scenario).collect();
        assert!(!rows.is_empty(), "no {scenario} results");
        for row in rows {
            let value = row["value"].as_f64().unwrap();
            assert!(value.is_finite() && value > 0.0, "{row}");
            assert!(table.contains(row["metric"].as_str().unwrap()), "the table shows {row}");
        }
    }
    let send = results.iter().find(|r| r["scenario"] == "send" && r["floor"].is_number()).unwrap();
    assert!(send["ratio"].as_f64().unwrap() > 0.0, "results carry their ratio to the floor");
}
