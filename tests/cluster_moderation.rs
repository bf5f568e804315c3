//! Kicks and bans across a cluster: two real nodes joined through a real `redis-server`. An operator
//! on one node removes a user of the other; a ban by name made there reaches the first node too,
//! and a node started later learns it from Redis.
//! Without redis-server the test is skipped with a loud message, except under CI (`CI=true`).

mod common;

use std::path::PathBuf;

use common::Server;
use common::redis::Redis;

fn node(redis: &Redis, name: &str, password: &str) -> Server {
    let url = format!("redis://127.0.0.1:{}", redis.port);
    Server::start(&[
        "--cluster",
        &url,
        "--node",
        name,
        "--cluster-heartbeat-ms",
        "100",
        "--cluster-timeout-ms",
        "1000",
        "--oper-password-file",
        password,
    ])
}

#[test]
fn kicks_and_bans_reach_the_node_that_has_the_user_and_every_node() {
    let Some(redis) = Redis::start() else { return };
    let password = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cluster-moderation-{}", std::process::id()));
    std::fs::write(&password, "letmein\n").unwrap();
    let password = password.to_str().unwrap();
    let (a, b) = (node(&redis, "a", password), node(&redis, "b", password));
    let mut teacher = a.join("teacher");
    teacher.send("/oper letmein");
    teacher.expect("*** you are now an operator");
    let mut ana = b.join("ana");
    teacher.expect("*** ana joined");
    let mut bea = b.join("bea");
    teacher.expect("*** bea joined");
    ana.expect("*** bea joined");
    // carl, on node b too, stays through it all: a ban turns away new connections only.
    let mut carl = b.join("carl");
    teacher.expect("*** carl joined");
    ana.expect("*** carl joined");
    bea.expect("*** carl joined");

    // A kick of a user of node b, from node a: b removes it; b's users see the removal, a's the
    // leave with the reason (another node's user leaves as on a cluster: `left (REASON)`).
    teacher.send("/kick ana stop it");
    assert_eq!(
        ana.expect_closed(),
        ["! you were removed by teacher (stop it)"]
    );
    bea.expect("*** ana was removed by teacher (stop it)");
    teacher.expect("*** ana left (removed by teacher (stop it))");

    // A ban by name of bea, on node b: b bans her address and tells every node, before her leave.
    teacher.send("/ban bea 10");
    assert_eq!(
        bea.expect_closed(),
        ["! you were removed by teacher (banned for 10 minutes)"]
    );
    teacher.expect("*** bea left (removed by teacher (banned for 10 minutes))");
    for server in [&a, &b] {
        let mut refused = server.connect();
        assert_eq!(refused.expect_closed(), ["! you are banned"]);
    }
    teacher.send("/bans");
    teacher.expect("*** bans (1): 127.0.0.1 (10 min left)");
    // A node that starts later reads the bans from Redis before it accepts anyone.
    let c = node(&redis, "c", password);
    assert_eq!(c.connect().expect_closed(), ["! you are banned"]);
    let kept = redis.cli(&["HGET", "pollchat:bans", "127.0.0.1"]);
    assert!(kept.trim().parse::<u64>().is_ok(), "{kept}");

    // An unban on node a lifts it on node b too. (A line published after it, seen by carl on b,
    // says b has had the unban: messages arrive in the order they were published.)
    teacher.send("/unban 127.0.0.1");
    teacher.expect("*** unbanned 127.0.0.1");
    teacher.send("welcome back");
    carl.skip_until(|l| l == "<teacher> welcome back");
    let mut back = b.connect_prompted();
    back.send("bea");
    back.expect("*** you are bea");
    // And Redis forgets it: a node starting now bans nobody.
    assert_eq!(redis.cli(&["HLEN", "pollchat:bans"]).trim(), "0");

    // A ban lifted while node a is cut off from Redis stays lifted when the link comes back: the
    // unban reaches Redis before the bans are read again.
    teacher.send("/ban 192.0.2.7 10");
    teacher.skip_until(|l| l == "*** banned 192.0.2.7 for 10 minutes");
    redis.cli(&["CLIENT", "PAUSE", "2500"]);
    teacher.skip_until(|l| l == "*** cluster link lost; local users only");
    teacher.send("/unban 192.0.2.7");
    teacher.expect("*** unbanned 192.0.2.7");
    teacher.skip_until(|l| l == "*** cluster link restored");
    teacher.send("/bans");
    teacher.expect("*** no bans");
    assert_eq!(redis.cli(&["HLEN", "pollchat:bans"]).trim(), "0");
}
