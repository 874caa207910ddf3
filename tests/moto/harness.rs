//! The moto harness: one `moto_server` per test binary on a free loopback port, installed on
//! demand (`scripts/install-moto.sh`, under a file lock), reset and seeded before every test,
//! and gone when the test binary exits.
//!
//! Why a shell wrapper around `moto_server`: statics are never dropped, and a SIGKILLed or
//! panicking test binary must not leak a server. The wrapper holds our pipe as its stdin and
//! kills the server when that pipe reaches EOF, which the kernel guarantees when this
//! process dies, however it dies.
//!
//! Tests share the server, so [`Moto::lock`] serialises them: hold the returned guard for the
//! whole test. Readiness and request counting read the server's access log (no polling
//! sleeps): each request moto serves is one log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

pub const REGION: &str = "us-east-1";

pub struct Moto {
    pub port: u16,
    pub venv: PathBuf,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    _child: Child,
}

static SERVER: OnceLock<Moto> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Exclusive use of the shared, freshly reset server for one test.
pub struct MotoGuard {
    pub moto: &'static Moto,
    _serial: MutexGuard<'static, ()>,
}

impl std::ops::Deref for MotoGuard {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.moto
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install(venv: &Path) {
    if venv.join("bin/moto_server").exists() {
        return;
    }
    let lock = root().join("target/moto-venv.lock");
    let status = Command::new("flock")
        .arg(&lock)
        .arg(root().join("scripts/install-moto.sh"))
        .env("MOTO_VENV", venv)
        .status()
        .expect("run scripts/install-moto.sh (needs flock and python3)");
    assert!(status.success(), "installing moto failed");
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().unwrap().port()
}

impl Moto {
    /// The shared server, reset (`POST /moto-api/reset`) and seeded (`seed?a=42`, for
    /// repeatable ids), held exclusively until the guard drops.
    pub fn lock() -> MotoGuard {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let moto = SERVER.get_or_init(Moto::start);
        moto.post("/moto-api/reset");
        moto.post("/moto-api/seed?a=42");
        MotoGuard {
            moto,
            _serial: serial,
        }
    }

    fn start() -> Moto {
        // Fake credentials and a pinned region for every client in this process; nothing may
        // reach a real AWS endpoint or a developer's profile.
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ] {
            std::env::set_var(k, v);
        }
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_ENDPOINT_URL");
        let venv = std::env::var_os("MOTO_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/moto-venv"));
        install(&venv);
        let port = free_port();
        let server = venv.join("bin/moto_server");
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} & pid=$!; cat >/dev/null; kill $pid; wait $pid",
            server.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        // Keep the stdin pipe open for the life of the process (see module doc).
        std::mem::forget(child.stdin.take());
        let stderr = child.stderr.take().unwrap();
        let log: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (lines, cv) = &*sink;
                lines.lock().unwrap().push(line);
                cv.notify_all();
            }
            // EOF: the server is gone; wake anyone waiting so they fail instead of hanging.
            let (lines, cv) = &*sink;
            lines.lock().unwrap().push("<moto_server exited>".into());
            cv.notify_all();
        });
        let moto = Moto {
            port,
            venv,
            log,
            _child: child,
        };
        moto.wait_for_log(|l| l.contains("Running on"));
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Block until a log line satisfies `pred` (or the server dies).
    fn wait_for_log(&self, pred: impl Fn(&str) -> bool) -> usize {
        let (lines, cv) = &*self.log;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(i) = guard.iter().position(|l| pred(l)) {
                return i;
            }
            assert!(
                !guard.iter().any(|l| l == "<moto_server exited>"),
                "moto_server exited:\n{}",
                guard.join("\n")
            );
            guard = cv.wait(guard).unwrap();
        }
    }

    /// One raw HTTP/1.1 request to the server; returns (status, body).
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    fn post(&self, path: &str) {
        let (status, body) = self.request("POST", path);
        assert_eq!(status, 200, "POST {path}: {body}");
    }

    /// Access-log lines so far, after every request made before this call has been logged
    /// (a marker request is sent and waited for, so the count is exact without sleeping).
    pub fn access_log(&self) -> Vec<String> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let marker = format!(
            "/__harness_barrier_{}",
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        self.request("GET", &marker);
        let at = self.wait_for_log(|l| l.contains(&marker));
        self.log.0.lock().unwrap()[..at].to_vec()
    }

    /// Number of RDS API requests (`POST /`) moto answered with `status` so far.
    pub fn api_requests_with_status(&self, status: u16) -> usize {
        // Werkzeug colours error lines with ANSI escapes inside the quotes, so match the
        // request and the status separately.
        let status = format!("\" {status} ");
        self.access_log()
            .iter()
            .filter(|l| l.contains("POST / HTTP/1.1") && l.contains(&status))
            .count()
    }

    /// Run a Python snippet with the venv's boto3 (the independent second client) against
    /// this server; returns stdout. `rds` is a ready boto3 RDS client.
    pub fn boto3(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json\nrds = boto3.client('rds', region_name='{REGION}', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint()
        );
        let out = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(prelude + code)
            .output()
            .expect("run the venv python");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}
