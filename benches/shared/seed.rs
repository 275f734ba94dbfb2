//! The workloads' rows as one SQL script: the SQLite benchmark's two sides
//! and the examples that count instructions or bytes on the same rows run
//! it.

/// `users` users, each with `posts` posts, each with `comments` comments;
/// keys are 1..n in each table. User `x` is `'user x'`, aged
/// `x % 80 + 18`; post `x` scores `x % 100`. A table that gets no rows is
/// not named, so it need not exist.
pub fn seed_sql(users: usize, posts: usize, comments: usize) -> String {
    let n_posts = users * posts;
    let n_comments = n_posts * comments;
    let mut sql = format!(
        "BEGIN;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {users})
         INSERT INTO users (id, name, email, age)
         SELECT x, 'user ' || x, 'user' || x || '@example.com', x % 80 + 18 FROM c;"
    );
    if n_posts > 0 {
        sql.push_str(&format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n_posts})
             INSERT INTO posts (id, title, score, user_id)
             SELECT x, 'post ' || x, x % 100, (x - 1) / {posts} + 1 FROM c;"
        ));
    }
    if n_comments > 0 {
        sql.push_str(&format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n_comments})
             INSERT INTO comments (id, body, post_id)
             SELECT x, 'comment number ' || x, (x - 1) / {comments} + 1 FROM c;"
        ));
    }
    sql.push_str("COMMIT;");
    sql
}
