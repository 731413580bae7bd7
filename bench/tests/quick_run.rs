//! The benchmark harness runs end to end (`--quick`), so it cannot rot. No timings are
//! asserted here: speed is reported by the harness, not judged by tests. The bench picks
//! its back ends itself (SQLite, then PostgreSQL in its last scenarios), so this runs once.

use serde_json::Value;
use std::process::Command;

/// The quick run takes about a minute; past this it is hung.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(8 * 60);

#[test]
fn the_quick_benchmark_runs_every_scenario_and_writes_json() {
    // Several scenarios run on PostgreSQL.
    require_postgres();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut bench = Command::new(env!("CARGO_BIN_EXE_marketchat-bench"))
        .args(["--quick", "--json"])
        .arg(&json)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run marketchat-bench");
    // A hung scenario fails the test (with what the bench printed) instead of holding the run.
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = bench.kill();
            let _ = bench.wait();
            panic!("the quick bench ran past {DEADLINE:?}: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "bench failed: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
    let table = std::fs::read_to_string(&stdout).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    for scenario in ["floor", "send", "history", "read", "chats", "inbox", "fanout", "marketplace", "idle", "postgres", "search"] {
        let rows: Vec<&Value> = results.iter().filter(|r| r["scenario"] == scenario).collect();
        assert!(!rows.is_empty(), "no {scenario} results");
        for row in rows {
            let value = row["value"].as_f64().unwrap();
            // Counts of what went wrong (lost, duplicated …) are 0 when all is well, and the
            // signed cross-node wake-up cost may be either sign; every other figure is positive.
            let count_of_faults = row["target_kind"] == "max" && row["target"] == 0.0;
            let signed = row["metric"].as_str().unwrap().contains("wake-up cost");
            assert!(value.is_finite() && (value > 0.0 || count_of_faults || signed), "{row}");
            assert!(table.contains(row["metric"].as_str().unwrap()), "the table shows {row}");
        }
    }
    let send = results.iter().find(|r| r["scenario"] == "send" && r["floor"].is_number()).unwrap();
    assert!(send["ratio"].as_f64().unwrap() > 0.0, "results carry their ratio to the floor");
    // The marketplace hour checks delivery, not only speed: of the accepted sends, nothing
    // lost, duplicated or delivered to the wrong seller, on either back end. (Refused sends
    // are reported, not asserted: a heavily loaded machine can time a statement out.)
    let delivery_faults = ["lost deliveries", "duplicated deliveries", "other sellers' messages"];
    for row in results.iter().filter(|r| r["scenario"] == "marketplace" && delivery_faults.iter().any(|f| r["metric"].as_str().unwrap().contains(f))) {
        assert_eq!(row["value"].as_f64().unwrap(), 0.0, "{row}");
    }
    // Every idle subscription received the final live message.
    let held: Vec<f64> = results.iter().filter(|r| r["scenario"] == "idle" && r["metric"].as_str().unwrap().starts_with("subscriptions held")).map(|r| r["value"].as_f64().unwrap()).collect();
    let reached: Vec<f64> = results.iter().filter(|r| r["scenario"] == "idle" && r["metric"].as_str().unwrap().starts_with("live message reached")).map(|r| r["value"].as_f64().unwrap()).collect();
    assert_eq!(held.len(), 2, "two idle shapes");
    assert_eq!(held, reached, "the live message reached every idle subscription");
}

/// Ends the run with one line when the PostgreSQL server of the bench's last scenario
/// does not answer, instead of a failed run's whole output.
fn require_postgres() {
    use sqlx::Connection;
    let admin = std::env::var("MARKETCHAT_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let connect = sqlx::PgConnection::connect(&format!("{admin}/postgres"));
    // The timeout is made inside the runtime, which its timer needs.
    let reachable = runtime.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), connect).await }).is_ok_and(|connected| connected.is_ok());
    if !reachable {
        use std::io::Write;
        // Straight to the process's stderr: the harness captures `eprintln!` of a test.
        let _ = writeln!(std::io::stderr(), "error: the bench test needs PostgreSQL at {admin} (start it, or set MARKETCHAT_BENCH_POSTGRES)");
        std::process::exit(2);
    }
}
