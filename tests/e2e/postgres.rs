//! A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a cluster made
//! by `initdb` in a temporary directory and started by `pg_ctl` on a free port (as the
//! `postgres` user when the tests run as root, since PostgreSQL refuses root). Each test that
//! needs one starts its own, so one test restarting its server disturbs no other; dropping it
//! stops the server and removes its files.

use std::path::PathBuf;
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// Where the server binaries are: Debian's newest `/usr/lib/postgresql/N/bin`, else `PATH`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_default()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Postgres {
    /// Makes a cluster and starts its server.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new().prefix("chatfn-pg-").tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "cannot give {} to the postgres user", dir.path().display());
        }
        let pg = Postgres { bin: bin_dir(), port: free_port(), dir };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        pg.ctl_start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server binary's command line, as `postgres` when root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.current_dir(self.dir.path());
        command
    }

    /// Runs a server binary; panics with its output when it fails.
    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); the tests need PostgreSQL's server (Debian: apt-get install \
                 postgresql, which scripts/setup does)",
                program.display()
            )
        });
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ctl_start(&self) {
        let data = self.data();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server (fast shutdown: clients are disconnected at once).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server again, on the same port.
    pub fn restart(&self) {
        self.ctl_start();
    }

    /// A new empty database on this server; its URL.
    pub fn database(&self, name: &str) -> String {
        self.run(
            "psql",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ],
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` through psql; its output, unaligned and without headers.
    pub fn query(&self, database: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args(["-h", self.dir.path().to_str().unwrap(), "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-At", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}
