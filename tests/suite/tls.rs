//! SPEC §14: PostgreSQL over TLS. `sslmode=disable|prefer|require|verify-ca|verify-full`
//! and `sslrootcert` in the URL; the suite's server has SSL on (.ci/run makes sure).

use crate::common::ca::TestCa;
use crate::common::cli::marketchat_command;
use crate::common::db::{postgres_admin_url, runs_on, Backend, TestDatabase};
use crate::common::wait::wait_until;
use sqlx::Connection;
use std::time::Duration;

/// (connections of the store on `database`, whether all of them use TLS).
async fn store_connections_ssl(database: &str) -> (i64, bool) {
    let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await.expect("admin connection");
    sqlx::query_as(
        "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_ssl")
}

/// The server's certificate file, which (self-signed, as Debian's snake-oil one is)
/// serves as `sslrootcert`.
async fn server_certificate(url: &str) -> String {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let path: String = sqlx::query_scalar("SHOW ssl_cert_file").fetch_one(&mut conn).await.expect("ssl_cert_file");
    assert!(std::fs::metadata(&path).is_ok(), "the server certificate {path} is readable (sslrootcert for verify-ca/verify-full)");
    path
}

#[tokio::test]
async fn the_store_connects_over_tls_with_every_sslmode_and_refuses_an_unknown_ca() {
    if !runs_on(Backend::Postgres, "TLS to the database applies to PostgreSQL only (SQLite is a local file)") {
        return;
    }
    let database = TestDatabase::create().await;
    let name = database.url.rsplit('/').next().unwrap().to_owned();
    // The snake-oil certificate names `localhost`: verify-full needs that name (loopback).
    let by_name = database.url.replace("127.0.0.1", "localhost");
    let root = server_certificate(&database.url).await;
    let cases = [
        (format!("{}?sslmode=disable", database.url), false),
        (format!("{}?sslmode=prefer", database.url), true),
        (format!("{}?sslmode=require", database.url), true),
        (format!("{by_name}?sslmode=verify-ca&sslrootcert={root}"), true),
        (format!("{by_name}?sslmode=verify-full&sslrootcert={root}"), true),
    ];
    for (url, tls) in cases {
        let store = marketchat::store::connect(&url, &Default::default()).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        store.list_webhooks().await.expect("a query over the connection");
        let (connections, ssl) = store_connections_ssl(&name).await;
        assert!(connections >= 1, "{url}: the store's connections are visible");
        assert_eq!(ssl, tls, "{url}: pg_stat_ssl.ssl of every store connection");
        drop(store);
        // Let the pool's connections go before the next case counts them.
        wait_until(Duration::from_secs(5), || async { store_connections_ssl(&name).await.0 == 0 }).await;
    }

    // A CA that did not issue the server's certificate: refused, in one clear line.
    let dir = tempfile::tempdir().unwrap();
    let wrong = TestCa::new("not the database's CA").write_pem(dir.path());
    let url = format!("{by_name}?sslmode=verify-full&sslrootcert={}", wrong.display());
    let refused = marketchat::store::connect(&url, &Default::default()).await.err().expect("an unknown CA is refused");
    assert!(refused.to_string().contains("invalid peer certificate"), "{refused}");
    let output = marketchat_command(&url).args(["webhook", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("invalid peer certificate: UnknownIssuer"), "{stderr}");
    // Without sslrootcert, verify-full trusts the public web PKI only: a self-signed
    // server certificate is refused too.
    let url = format!("{by_name}?sslmode=verify-full");
    assert!(marketchat::store::connect(&url, &Default::default()).await.is_err(), "{url}");
}
