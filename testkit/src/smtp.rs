//! A small SMTP server (RFC 5321 conversation: EHLO, MAIL, RCPT, DATA,
//! QUIT) that keeps every message it accepts.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// One accepted message.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// The `RCPT TO:` lines as sent.
    pub rcpt: Vec<String>,
    /// The DATA section (headers and body), dot-unstuffed, `\n` line ends.
    pub data: String,
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    /// Listens on a free local port until the process ends.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP fake");
        let port = listener.local_addr().expect("local addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(converse(socket, store.clone()));
            }
        });
        Self { port, received }
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("SMTP fake poisoned").clone()
    }
}

async fn converse(socket: TcpStream, store: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test.smtp ESMTP\r\n").await?;
    let mut current = Received::default();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-test.smtp\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            current.rcpt.push(line.clone());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                current.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                current.data.push('\n');
            }
            store.lock().expect("SMTP fake poisoned").push(std::mem::take(&mut current));
            write.write_all(b"250 queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            break;
        } else {
            // MAIL FROM, RSET, NOOP.
            write.write_all(b"250 OK\r\n").await?;
        }
    }
    Ok(())
}
