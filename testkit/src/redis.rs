//! Redis clean-up for tests and benchmarks that share one server.

/// Deletes every key whose name contains `needle` (a test's or a
/// benchmark's namespace). SCAN, never KEYS, so a shared Redis is not
/// blocked; no response timeout, since other tests may keep it busy.
pub async fn purge(redis_url: &str, needle: &str) -> Result<u64, redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut conn = redis::Client::open(redis_url)?.get_multiplexed_async_connection_with_config(&config).await?;
    let glob: String = needle
        .chars()
        .flat_map(|c| if matches!(c, '*' | '?' | '[' | ']' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    let pattern = format!("*{glob}*");
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK").arg(&keys).query_async::<u64>(&mut conn).await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}
