//! SPEC §14: `marketchat backup` copies a live SQLite database; `marketchat check` finds
//! every stored counter that disagrees with the messages, and `--repair` recomputes them.
//! The restore drill backs up during sends and serves the copy.

use crate::common::app::TestApp;
use crate::common::cli::run_marketchat;
use crate::common::db::{backend, runs_on, Backend};
use crate::common::nodes::{Cluster, NodeProcess};
use crate::common::wait::wait_until;
use marketchat::store;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SQLITE_ONLY: &str = "marketchat backup copies SQLite databases only (PostgreSQL: pg_dump)";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `marketchat check ARGS` on `database_url`: (exit code, stdout lines, stderr).
fn check(database_url: &str, args: &[&str]) -> (i32, Vec<String>, String) {
    let output: Output = run_marketchat(database_url, &[&["check"], args].concat(), &[], None);
    let lines = text(&output.stdout).lines().map(str::to_owned).collect();
    (output.status.code().unwrap_or(-1), lines, text(&output.stderr))
}

/// [`check`] off the runtime, so the test's other tasks (senders) keep running.
async fn check_beside(database_url: &str) -> (i32, Vec<String>, String) {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || check(&url, &[])).await.expect("check")
}

/// `marketchat backup --to TARGET` off the runtime.
async fn backup_beside(database_url: &str, target: &std::path::Path) -> Output {
    let (url, target) = (database_url.to_owned(), target.to_str().expect("UTF-8 path").to_owned());
    tokio::task::spawn_blocking(move || run_marketchat(&url, &["backup", "--to", &target], &[], None)).await.expect("backup")
}

/// Whether at least `count` sends were acknowledged, waiting up to 20 s.
async fn acknowledged_at_least(acked: &Mutex<Vec<(String, String)>>, count: usize) {
    let reached = wait_until(Duration::from_secs(20), || {
        let len = acked.lock().unwrap().len();
        async move { len >= count }
    })
    .await;
    assert!(reached, "{count} sends were not acknowledged in time");
}

#[tokio::test]
async fn check_finds_each_wrong_counter_and_repair_recomputes_them() {
    let app = TestApp::spawn().await;
    let (acme, birch) = (app.seller("Acme").await, app.seller("Birch").await);
    let operator = app.operator_key("Support").await;
    app.seller_sends(&acme.key, "one").await;
    app.seller_sends(&acme.key, "two").await;
    app.operator_sends(&operator, &birch.gid, "hello Birch").await;
    app.seller_sends(&birch.key, "hi").await;

    let (code, lines, stderr) = check(&app.database_url, &[]);
    assert_eq!(code, 0, "a sound database: {lines:?} {stderr}");
    assert_eq!(lines, ["sound: integrity ok, counters match (2 chats, 4 messages)"]);

    let (acme_id, birch_id) = (acme.id.get(), birch.id.get());
    let lower_event_counter = match backend() {
        Backend::Sqlite => "UPDATE sqlite_sequence SET seq = 1 WHERE name = 'events'",
        Backend::Postgres => "SELECT setval('events_seq_seq', 1)",
    };
    app.execute_sql(&[
        &format!("UPDATE chats SET unread_by_operator = 7, awaiting_since = NULL WHERE seller_id = {acme_id}"),
        &format!("UPDATE chats SET last_message_id = NULL, removed_count = 3, unread_by_seller = 0 WHERE seller_id = {birch_id}"),
        lower_event_counter,
    ])
    .await
    .expect("corrupt the counters");
    let acme_waiting = app.query_i64(&format!("SELECT MIN(created_at) FROM messages WHERE seller_id = {acme_id}")).await;
    let birch_newest = app.query_i64(&format!("SELECT MAX(id) FROM messages WHERE seller_id = {birch_id}")).await;
    let events = app.query_i64("SELECT MAX(seq) FROM events").await;
    let expected = [
        format!("chat {}: unread_by_operator stored 7, expected 2", acme.gid),
        format!("chat {}: awaiting_since stored none, expected {acme_waiting}", acme.gid),
        format!("chat {}: total messages (message_count - removed_count) stored -1, expected 2", birch.gid),
        format!("chat {}: unread_by_seller stored 0, expected 1", birch.gid),
        format!("chat {}: last_message_id stored none, expected {birch_newest}", birch.gid),
        format!("database: events ID counter stored 1, expected at least {events}"),
    ];

    let (code, lines, stderr) = check(&app.database_url, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(lines, expected, "one line per wrong counter");
    assert_eq!(stderr.trim(), "error: 6 problem(s) found; marketchat check --repair recomputes the counters");

    let (code, lines, stderr) = check(&app.database_url, &["--repair"]);
    assert_eq!(code, 0, "{lines:?} {stderr}");
    let fixed: Vec<String> = expected.iter().map(|line| format!("fixed: {line}")).collect();
    assert_eq!(lines[..fixed.len()], fixed[..], "repair says what it changed");
    assert_eq!(lines[fixed.len()..], ["sound: integrity ok, counters match (2 chats, 4 messages)"]);
    assert_eq!(check(&app.database_url, &[]).0, 0, "a second check finds nothing");

    // What clients read is right again, and the next event takes a position never used.
    let chats = app.as_operator(&operator, "{ chats(first: 10) { nodes { seller { id } unreadCount lastMessage { message } } } }", json!({})).await;
    let chats = chats["chats"]["nodes"].as_array().expect("chats").clone();
    let acme_chat = chats.iter().find(|c| c["seller"]["id"] == acme.gid.as_str()).expect("Acme's chat");
    assert_eq!(acme_chat["unreadCount"], 2);
    let birch_chat = chats.iter().find(|c| c["seller"]["id"] == birch.gid.as_str()).expect("Birch's chat");
    assert_eq!(birch_chat["lastMessage"]["message"], "hi");
    app.seller_sends(&acme.key, "three").await;
    assert_eq!(app.query_i64("SELECT MAX(seq) FROM events").await, events + 1);
}

#[tokio::test]
async fn a_message_without_its_event_is_reported_and_left_for_a_restore() {
    let app = TestApp::spawn().await;
    let acme = app.seller("Acme").await;
    app.seller_sends(&acme.key, "one").await;
    let message_id = app.query_i64("SELECT MAX(id) FROM messages").await;
    app.execute_sql(&[&format!("DELETE FROM events WHERE message_id = {message_id}")]).await.expect("remove the event");
    let line = format!("chat {}: message_created events of message {message_id} stored 0, expected 1 (not repairable: restore from a backup)", acme.gid);
    let (code, lines, stderr) = check(&app.database_url, &["--repair"]);
    assert_eq!((code, lines), (1, vec![line]), "{stderr}");
    assert_eq!(stderr.trim(), "error: 1 problem(s) found");
}

#[tokio::test]
async fn backup_refuses_an_existing_file_and_a_missing_directory() {
    let app = TestApp::spawn().await;
    if !runs_on(Backend::Sqlite, SQLITE_ONLY) {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("copy.db");
        let output = run_marketchat(&app.database_url, &["backup", "--to", target.to_str().unwrap()], &[], None);
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("error: marketchat backup copies SQLite databases only; back up PostgreSQL with pg_dump"), "{stderr}");
        assert!(!target.exists(), "nothing is written");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, "keep me").unwrap();
    let output = run_marketchat(&app.database_url, &["backup", "--to", existing.to_str().unwrap()], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stderr).trim(), format!("error: {} exists; a backup never overwrites a file (remove it or choose another name)", existing.display()));
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");

    let missing = dir.path().join("no/such/dir/copy.db");
    let output = run_marketchat(&app.database_url, &["backup", "--to", missing.to_str().unwrap()], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stderr).trim(), format!("error: directory {} does not exist", dir.path().join("no/such/dir").display()));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["existing.db"], "no temporary file is left behind");
}

/// A seller sending messages one after another until told to stop, recording each
/// acknowledged message's ID and text.
fn spawn_sender(app: Arc<TestApp>, key: String, name: String, acked: Arc<Mutex<Vec<(String, String)>>>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 0.. {
            let text = format!("{name} message {n}");
            let sent = tokio::select! {
                _ = stop.cancelled() => return,
                sent = app.seller_sends(&key, &text) => sent,
            };
            let id = sent["chatMessage"]["id"].as_str().expect("acknowledged").to_owned();
            acked.lock().unwrap().push((id, text));
        }
    })
}

#[tokio::test]
async fn restore_drill_a_backup_during_sends_serves_every_acknowledged_message_once() {
    if !runs_on(Backend::Sqlite, SQLITE_ONLY) {
        return;
    }
    // The real server (`marketchat serve`, holding the database's lock) and a client.
    let cluster = Cluster::start(1).await;
    let app = Arc::new(cluster.app(0));
    let operator = app.operator_key("Support").await;
    let mut sellers = Vec::new();
    for name in ["Acme", "Birch", "Cedar", "Delta"] {
        sellers.push((name.to_owned(), app.seller(name).await));
    }
    for (name, seller) in &sellers {
        app.seller_sends(&seller.key, &format!("{name} before the cursor")).await;
    }
    let cursor = app.as_operator(&operator, "{ chatEventCursor }", json!({})).await["chatEventCursor"].as_str().expect("cursor").to_owned();

    let acked = Arc::new(Mutex::new(Vec::new()));
    // A token, not a Notify: a sender between two sends must still see the stop.
    let stop = CancellationToken::new();
    let senders: Vec<_> =
        sellers.iter().map(|(name, seller)| spawn_sender(app.clone(), seller.key.clone(), name.clone(), acked.clone(), stop.clone())).collect();
    acknowledged_at_least(&acked, 40).await;

    // A check on the live database while the sends go on reads one snapshot: sound.
    let (code, lines, stderr) = check_beside(&app.database_url).await;
    assert_eq!(code, 0, "check beside live writes: {lines:?} {stderr}");

    let acked_before_backup: Vec<(String, String)> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    let output = backup_beside(&app.database_url, &copy).await;
    assert!(output.status.success(), "backup beside a serving server: {}", text(&output.stderr));
    let acked_after_backup = acked.lock().unwrap().len();
    acknowledged_at_least(&acked, acked_after_backup + 10).await;
    stop.cancel();
    for sender in senders {
        let _ = sender.await;
    }

    // `PATH<TAB>BYTES bytes<TAB>MESSAGES messages`, a private file of that size.
    let printed = text(&output.stdout);
    let fields: Vec<&str> = printed.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 3, "{printed}");
    assert_eq!(fields[0], copy.display().to_string());
    let bytes: u64 = fields[1].strip_suffix(" bytes").expect("bytes").parse().unwrap();
    let messages: usize = fields[2].strip_suffix(" messages").expect("messages").parse().unwrap();
    let metadata = std::fs::metadata(&copy).expect("the copy");
    assert_eq!(metadata.len(), bytes);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert!(messages >= sellers.len() + acked_before_backup.len(), "{messages} messages");
    let original_total = app.query_i64("SELECT COUNT(*) FROM messages").await as usize;
    assert!(original_total > messages, "the server kept writing: {original_total} > {messages}");

    // The copy is sound and serves: a new server on it.
    let copy_url = format!("sqlite://{}", copy.display());
    let (code, lines, stderr) = check(&copy_url, &[]);
    assert_eq!((code, lines), (0, vec![format!("sound: integrity ok, counters match (4 chats, {messages} messages)")]), "{stderr}");
    let node = NodeProcess::start(&copy_url);
    let restored_store = store::connect(&copy_url, &Default::default()).await.expect("open the copy");
    let restored = TestApp::remote(node.base.clone(), restored_store, copy_url.clone());

    // Resuming from the cursor taken before the backup replays the restored part with no
    // gap and no repeat: every message stored after the cursor, each once, in order.
    let mut socket = restored.subscribe("/graphql/operator", &operator, Some(&cursor)).await;
    let mut replayed: Vec<(String, String)> = Vec::new();
    for _ in 0..messages - sellers.len() {
        let event = socket.next_event().await;
        assert_eq!(event["__typename"], "ChatMessageCreated", "{event}");
        let message = &event["chatMessage"];
        replayed.push((message["id"].as_str().unwrap().to_owned(), message["message"].as_str().unwrap().to_owned()));
    }
    socket.expect_silence(300).await;
    let mut seen = HashSet::new();
    assert!(replayed.iter().all(|(id, _)| seen.insert(id.clone())), "no message is replayed twice");
    let replayed_texts: HashMap<&str, &str> = replayed.iter().map(|(id, text)| (id.as_str(), text.as_str())).collect();
    for (id, text) in &acked_before_backup {
        assert_eq!(replayed_texts.get(id.as_str()), Some(&text.as_str()), "acknowledged before the backup began: {text}");
    }
    // Each seller's messages come in the order they were sent (no gap inside a thread).
    for (name, _) in &sellers {
        let numbers: Vec<usize> = replayed
            .iter()
            .filter_map(|(_, text)| text.strip_prefix(&format!("{name} message ")).map(|n| n.parse().unwrap()))
            .collect();
        assert_eq!(numbers, (0..numbers.len()).collect::<Vec<_>>(), "{name}'s thread");
    }
    // The restored server takes new messages after the restored ones.
    let (_, acme) = &sellers[0];
    let sent = restored.seller_sends(&acme.key, "after the restore").await;
    let event = socket.next_event().await;
    assert_eq!(event["chatMessage"]["id"], sent["chatMessage"]["id"]);
    assert!(!replayed_texts.contains_key(sent["chatMessage"]["id"].as_str().unwrap()), "a new message gets a new ID");
}
