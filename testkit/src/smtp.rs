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

/// A login the server requires (AUTH PLAIN or LOGIN) before it takes mail.
#[derive(Clone, Debug)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl SmtpServer {
    /// Listens on a free local port until the process ends.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server that advertises AUTH and refuses MAIL until `login` signed in
    /// (535 for a wrong password), as a provider's submission port does.
    pub async fn start_with_login(login: Login) -> Self {
        Self::start_with(Some(login)).await
    }

    async fn start_with(login: Option<Login>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP fake");
        let port = listener.local_addr().expect("local addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(converse(socket, store.clone(), login.clone()));
            }
        });
        Self { port, received }
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("SMTP fake poisoned").clone()
    }
}

async fn converse(socket: TcpStream, store: Arc<Mutex<Vec<Received>>>, login: Option<Login>) -> std::io::Result<()> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test.smtp ESMTP\r\n").await?;
    let mut current = Received::default();
    let mut signed_in = login.is_none();
    let decode = |s: &str| STANDARD.decode(s.trim()).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let auth = if login.is_some() { "250-AUTH PLAIN LOGIN\r\n" } else { "" };
            write.write_all(format!("250-test.smtp\r\n{auth}250 8BITMIME\r\n").as_bytes()).await?;
        } else if let (Some(expected), true) = (&login, upper.starts_with("AUTH ")) {
            // PLAIN: base64("\0user\0pass"), inline or after a 334; LOGIN: user, then password.
            let mut words = line.split_whitespace().skip(1);
            let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
            let inline = words.next().map(str::to_owned);
            let (user, pass) = if mechanism == "PLAIN" {
                let creds = match inline {
                    Some(c) => c,
                    None => {
                        write.write_all(b"334 \r\n").await?;
                        lines.next_line().await?.unwrap_or_default()
                    }
                };
                let plain = decode(&creds);
                let mut parts = plain.split('\0').skip(1);
                (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned())
            } else {
                write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                let user = decode(&lines.next_line().await?.unwrap_or_default());
                write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                (user, decode(&lines.next_line().await?.unwrap_or_default()))
            };
            signed_in = user == expected.username && pass == expected.password;
            let reply: &[u8] = if signed_in {
                b"235 2.7.0 Authentication successful\r\n"
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            };
            write.write_all(reply).await?;
        } else if upper.starts_with("MAIL FROM") && !signed_in {
            write.write_all(b"530 5.7.0 Authentication required\r\n").await?;
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
