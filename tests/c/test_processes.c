/*
 * Three OS processes form one pool over loopback: this test (proc-0) and two
 * helper_node processes (fork + exec). proc-2 is killed with SIGKILL; both
 * survivors report it failed.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

struct child {
    pid_t pid;
    int out; /* its standard output */
    int in;  /* its standard input */
    char buf[8192];
    size_t len;
};

static const char *helper_path(const char *argv0) {
    static char path[4096];
    const char *env = getenv("HEARSAY_HELPER");
    if (env && env[0])
        return env;
    snprintf(path, sizeof path, "%s", argv0);
    char *slash = strrchr(path, '/');
    if (slash)
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path),
                 "helper_node");
    return path;
}

static void spawn(struct child *c, const char *helper, const char *name,
                  const char *seed) {
    int out[2], in[2];
    CHECK(pipe(out) == 0 && pipe(in) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(helper, helper, name, seed, (char *)NULL);
        perror("exec helper_node");
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->out = out[0];
    c->in = in[1];
    c->len = 0;
    c->buf[0] = 0;
}

/* Reads the child's output until it contains `text` (1) or the deadline
 * passes (0). */
static int await_output(struct child *c, const char *text, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (strstr(c->buf, text))
            return 1;
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = c->out, .events = POLLIN, .revents = 0};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n >= 0);
        if (n == 0)
            return 0;
        CHECK(c->len + 1 < sizeof c->buf);
        ssize_t got = read(c->out, c->buf + c->len, sizeof c->buf - c->len - 1);
        if (got <= 0)
            return strstr(c->buf, text) != NULL;
        c->len += (size_t)got;
        c->buf[c->len] = 0;
    }
}

static int wait_exit(pid_t pid, int timeout_ms, int *status) {
    long long deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        pid_t r = waitpid(pid, status, WNOHANG);
        CHECK(r >= 0);
        if (r == pid)
            return 1;
        poll_pause();
    }
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    const char *helper = helper_path(argv[0]);
    CHECK(access(helper, X_OK) == 0);
    signal(SIGPIPE, SIG_IGN);

    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, "proc-0");
    hearsay_pool *p = start_pool(rt, c);
    hearsay_config_free(c);
    char seed[64];
    addr_of(p, seed, sizeof seed);

    struct child a, b;
    spawn(&a, helper, "proc-1", seed);
    spawn(&b, helper, "proc-2", seed);
    CHECK(await_output(&a, "ADDR 127.0.0.1:", 10000));
    CHECK(await_output(&b, "ADDR 127.0.0.1:", 10000));

    /* One pool of three: this process and proc-1 see everyone. */
    CHECK(WAIT_UNTIL(count_status(p, HEARSAY_STATUS_ALIVE) == 3, 15000));
    CHECK(await_output(&a, "EVENT 1 proc-0\n", 15000));
    CHECK(await_output(&a, "EVENT 1 proc-2\n", 15000));

    /* proc-2 dies without a word. */
    CHECK(kill(b.pid, SIGKILL) == 0);
    int status = 0;
    CHECK(wait_exit(b.pid, 5000, &status));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    CHECK(await_event(p, HEARSAY_EVENT_MEMBER_FAILED, "proc-2", 20000));
    CHECK(status_of(p, "proc-2") == HEARSAY_STATUS_FAILED);
    CHECK(await_output(&a, "EVENT 3 proc-2\n", 20000));
    CHECK(status_of(p, "proc-1") == HEARSAY_STATUS_ALIVE);

    /* proc-1 exits cleanly when its input closes. */
    close(a.in);
    CHECK(wait_exit(a.pid, 10000, &status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(a.out);
    close(b.out);
    close(b.in);

    hearsay_pool_free(p);
    hearsay_runtime_free(rt);
    printf("test_processes: ok\n");
    return 0;
}
