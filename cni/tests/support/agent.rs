//! An in-test tether agent: wire protocol v1 on a real Unix socket, answering as a test says.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use cni::protocol::{AddRequest, AddResponse};

/// How the agent answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with this body.
    Answer(AddResponse),
    /// These exact bytes, then close.
    Raw(Vec<u8>),
    /// Hold every request until [`Agent::release`] is called, then answer 200 with the body.
    Hold(AddResponse),
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<(String, String, Option<AddRequest>)>>,
    released: Mutex<bool>,
    release: Condvar,
    stop: AtomicBool,
}

/// A running agent; stops and removes its socket on drop.
pub struct Agent {
    socket: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Agent {
    /// Serves on `socket` with `behaviour`.
    pub fn start(socket: &Path, behaviour: Behaviour) -> Agent {
        let listener = UnixListener::bind(socket).expect("bind agent socket");
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            requests: Mutex::new(Vec::new()),
            released: Mutex::new(false),
            release: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let serving = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = Arc::clone(&serving);
                std::thread::spawn(move || handle(conn, &shared));
            }
        });
        Agent {
            socket: socket.to_path_buf(),
            shared,
            thread: Some(thread),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Every request so far: method, path, and the ADD body if it was one.
    pub fn requests(&self) -> Vec<(String, String, Option<AddRequest>)> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Lets held requests be answered.
    pub fn release(&self) {
        *self.shared.released.lock().unwrap() = true;
        self.shared.release.notify_all();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.release();
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn handle(conn: UnixStream, shared: &Shared) {
    let mut reader = BufReader::new(conn);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let add: Option<AddRequest> = serde_json::from_slice(&body).ok();
    shared
        .requests
        .lock()
        .unwrap()
        .push((method, path.clone(), add));
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let reply = match behaviour {
        Behaviour::Raw(bytes) => bytes,
        Behaviour::Answer(answer) => ok(&path, &answer),
        Behaviour::Hold(answer) => {
            let mut released = shared.released.lock().unwrap();
            while !*released {
                released = shared.release.wait(released).unwrap();
            }
            ok(&path, &answer)
        }
    };
    let _ = reader.get_mut().write_all(&reply);
}

fn ok(path: &str, answer: &AddResponse) -> Vec<u8> {
    let body = if path == "/v1/healthz" {
        "{}".to_string()
    } else {
        serde_json::to_string(answer).unwrap()
    };
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
