//! RFC 3161 timestamps of checkpoints (issue 12), from a real time-stamping authority: OpenSSL's
//! own (`openssl ts -reply`), with a CA and a TSA certificate made for the test, behind a tiny
//! HTTP front. The server timestamps its latest checkpoint as the log grows (every second here,
//! every hour by default); `carnet export --timestamps` writes the tokens with the notes they
//! stamp; `openssl ts -verify` accepts them with the CA alone, and refuses an altered note.

use crate::checkpoints::served_checkpoint;
use crate::support::*;
use carnet_domain::person::Role;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

const TSA_CONFIG: &str = "[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = .
serial = ./serial
crypto_device = builtin
signer_cert = ./tsa.pem
certs = ./tsa.pem
signer_key = ./tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
";

/// A CA, a TSA certificate it signed (extended key usage: time stamping, critical), and
/// OpenSSL's TSA configured with them, in `dir`.
fn make_tsa(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Carnet test TSA CA"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[&["req"][..], &ec, &["-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Carnet test TSA"]].concat(),
    );
    std::fs::write(dir.join("ext.cnf"), "extendedKeyUsage = critical,timeStamping\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(dir.join("tsa.cnf"), TSA_CONFIG).unwrap();
}

/// Serves OpenSSL's TSA over HTTP on a free port, on its own thread: each `POST` body is a
/// `TimeStampReq`, answered by `openssl ts -reply`. Its URL.
fn serve_tsa(dir: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsr", listener.local_addr().unwrap());
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let (query, reply) = (format!("q{n}.tsq"), format!("r{n}.tsr"));
            std::fs::write(dir.join(&query), &body).unwrap();
            let out = Command::new("openssl")
                .current_dir(&dir)
                .args(["ts", "-reply", "-config", "tsa.cnf", "-queryfile", &query, "-out", &reply])
                .output()
                .unwrap();
            let answer = if out.status.success() { std::fs::read(dir.join(&reply)).unwrap() } else { vec![] };
            let head = format!(
                "HTTP/1.1 {}\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                if out.status.success() { "200 OK" } else { "500 Internal Server Error" },
                answer.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&answer));
        }
    });
    url
}

const STAMPS: &str = "{ checkpoint { treeSize note timestamps { tsa stampedAt token } } }";

/// The latest checkpoint's timestamps once it covers `size` events and has one.
async fn stamped(app: &TestApp, size: u64) -> serde_json::Value {
    let auditor = app.token(Role::Auditor, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = app.graphql_as(Some(&auditor), STAMPS, json!({})).await;
        let checkpoint = &res["data"]["checkpoint"];
        if checkpoint["treeSize"].as_u64().is_some_and(|s| s >= size)
            && checkpoint["timestamps"].as_array().is_some_and(|t| !t.is_empty())
        {
            return checkpoint.clone();
        }
        assert!(Instant::now() < deadline, "no timestamp of a checkpoint of {size} events: {res}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn checkpoints_get_timestamps_openssl_verifies(url: &str) {
    let tsa_dir = TempDir::new();
    make_tsa(tsa_dir.path());
    let tsa = serve_tsa(tsa_dir.path());
    let app = spawn_app_with(url, |c| {
        c.demo_data = Some(false);
        c.checkpoints.tsa_url = Some(tsa.clone());
        c.checkpoints.timestamp_every_s = 1;
    })
    .await;
    let team = app.token(Role::LabTeam, &[]);
    let mut sizes = vec![];
    for title in ["Horodaté", "Horodaté encore"] {
        let res = app.graphql_as(Some(&team), SUBMIT_TITLED, json!({ "t": title })).await;
        assert!(res["errors"].is_null(), "{res}");
        let size = committed_events(url).await;
        served_checkpoint(&app, size).await;
        let checkpoint = stamped(&app, size).await;
        assert_eq!(checkpoint["timestamps"][0]["tsa"], tsa.as_str(), "{checkpoint}");
        sizes.push(checkpoint["treeSize"].as_u64().unwrap());
    }
    assert!(sizes[1] > sizes[0], "the growing log is timestamped again: {sizes:?}");

    // the export carries the tokens; openssl verifies each with the TSA's CA alone
    let dir = TempDir::new();
    let export = dir.path().join("log.jsonl");
    let stamps = dir.path().join("timestamps");
    let args = ["export", "--output", export.to_str().unwrap(), "--timestamps", stamps.to_str().unwrap()];
    let out = carnet_beside(&args, url, Some(dir.path())).await;
    assert!(out.status.success(), "{}", out.stderr);
    let ca = tsa_dir.path().join("ca.pem");
    let verify = |size: u64| {
        Command::new("openssl")
            .current_dir(&stamps)
            .args(["ts", "-verify", "-token_in", "-in", &format!("{size}.tsr"), "-data", &format!("{size}.checkpoint")])
            .arg("-CAfile")
            .arg(&ca)
            .output()
            .expect("openssl")
    };
    for size in &sizes {
        let out = verify(*size);
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && printed.contains("Verification: OK"),
            "{printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let note = stamps.join(format!("{}.checkpoint", sizes[0]));
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, text.replacen(&format!("\n{}\n", sizes[0]), &format!("\n{}\n", sizes[0] + 1), 1)).unwrap();
    assert!(!verify(sizes[0]).status.success(), "an altered checkpoint still verifies against its token");
}

#[tokio::test]
async fn checkpoints_get_timestamps_openssl_verifies_on_postgres() {
    let db = FreshDatabase::create().await;
    checkpoints_get_timestamps_openssl_verifies(&db.url).await;
}

#[tokio::test]
async fn checkpoints_get_timestamps_openssl_verifies_on_sqlite() {
    let dir = TempDir::new();
    checkpoints_get_timestamps_openssl_verifies(&format!("sqlite://{}", dir.path().join("carnet.db").display())).await;
}
