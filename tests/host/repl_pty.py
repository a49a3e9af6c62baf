#!/usr/bin/env python3
"""repl_pty.py -- drives luatrain's REPL through a pseudo-terminal.

Used by test_host.sh: `python3 repl_pty.py path/to/luatrain`. Each check runs
a fresh REPL with HOME set to a scratch folder (so the history file is the
test's own), types keys into it and waits, with a time limit, for a pattern
in what the terminal shows. Prints "PASS name" or "FAIL name: why" per check
and exits 1 if any failed. Not a general expect clone: just enough for these
checks, standard library only.
"""
import os
import pty
import re
import select
import shutil
import signal
import sys
import tempfile
import termios
import time

WAIT = 5.0  # seconds to wait for any one expected output


class Repl:
    def __init__(self, binary, home, args=()):
        self.buf = b""
        self.log = b""   # everything the terminal showed, for sanitizer reports
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["HOME"] = home
            os.environ["TERM"] = "xterm"
            os.environ.pop("LUATRAIN_PATH", None)
            os.execv(binary, [binary] + list(args))
        self.pid, self.fd = pid, fd
        self.status = None

    def wait_mode(self, raw, timeout=WAIT):
        """Waits until the terminal is in raw mode (libedit reading a line)
        or back in canonical mode (code running). libedit prints the prompt
        before going raw, and a ^C or ^D typed in between is handled by the
        line discipline instead of libedit: a person is never that fast, a
        test is."""
        deadline = time.time() + timeout
        while bool(termios.tcgetattr(self.fd)[3] & termios.ICANON) == raw:
            if time.time() > deadline:
                raise AssertionError("the terminal never went %s" % ("raw" if raw else "canonical"))
            time.sleep(0.01)

    def send(self, keys, at_prompt=True):
        """at_prompt=False: the keys are for running code (Ctrl-C)."""
        self.wait_mode(raw=at_prompt)
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.buf += data
        self.log += data
        return True

    def expect(self, pattern, timeout=WAIT):
        """Waits for pattern (bytes regex) in the output not yet consumed;
        consumes up to the end of the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.time() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                seen = self.buf[:m.end()]
                self.buf = self.buf[m.end():]
                return seen
            left = deadline - time.time()
            if left <= 0 or not self._read(min(left, 0.1)):
                if rx.search(self.buf):
                    continue
                raise AssertionError("expected %r, terminal showed %r" % (pattern, self.buf[-400:]))

    def send_eof(self):
        self.send("\x04")
        return self.wait_exit()

    def wait_exit(self, timeout=WAIT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
        raise AssertionError("REPL did not exit; terminal showed %r" % self.buf[-400:])

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


PROMPT = r"\n> $|^> $|\n> "


def start(binary, home):
    r = Repl(binary, home)
    r.expect(r"luatrain \d+\.\d+\.\d+ \(Lua 5\.4[^)]*\)")
    r.expect(r"> ")
    return r


def check_expression(r):
    r.send("1+1\r")
    r.expect(r"\r\n2\r\n> ")
    r.send('1, "two", nil\r')
    r.expect(r"\r\n1\ttwo\tnil\r\n> ")
    r.send("x_set = 5\r")      # a statement prints nothing
    r.expect(r"x_set = 5\r\n> ")
    r.send("x_set * 3\r")
    r.expect(r"\r\n15\r\n> ")
    r.send("(function() end)()\r")  # no results: nothing printed
    r.expect(r"\(\)\r\n> ")


def check_multiline(r):
    r.send("for i = 1, 2 do\r")
    r.expect(r"\r\n>> ")
    r.send("print(i * 10)\r")
    r.expect(r"\r\n>> ")
    r.send("end\r")
    r.expect(r"\r\n10\r\n20\r\n> ")
    r.send("function add1(a)\r")
    r.expect(r">> ")
    r.send("return a + 1 end\r")
    r.expect(r"> ")
    r.send("add1(41)\r")
    r.expect(r"\r\n42\r\n> ")


def check_error_keeps_going(r):
    r.send("error('oops_marker')\r")
    r.expect(r"luatrain: stdin:1: oops_marker")
    r.expect(r"stack traceback:")
    r.expect(r"> ")
    r.send("x = = 1\r")
    r.expect(r"luatrain: stdin:1: unexpected symbol")
    r.send("print('still' .. 'alive')\r")
    r.expect(r"stillalive\r\n> ")


def check_complete_global_field(r):
    r.send("comptbl = {alpha_field = 4242, beta = 1}\r")
    r.expect(r"> ")
    r.send("comptbl.alp\t")
    r.expect(r"ha_field")
    r.send("\r")
    r.expect(r"\r\n4242\r\n> ")
    r.send("print(comptb\t.beta)\r")   # a global, inside a call
    r.expect(r"\r\n1\r\n> ")


def check_complete_methods(r):
    r.send("Base = {deep_method = function() return 888 end}\r")
    r.expect(r"> ")
    r.send("Mid = setmetatable({mid_method = function() return 777 end}, {__index = Base})\r")
    r.expect(r"> ")
    r.send("obj = setmetatable({}, {__index = Mid})\r")
    r.expect(r"> ")
    r.send("obj:mid_\t()\r")            # one level of __index
    r.expect(r"\r\n777\r\n> ")
    r.send("obj:deep\t()\r")            # two levels
    r.expect(r"\r\n888\r\n> ")
    r.send("io.stdout:setv\t('no')\r")  # userdata: methods in its metatable
    r.expect(r"\r\ntrue\r\n> ")


def check_complete_function_index(r):
    # An __index function is never called; __methods and __getters list
    # what it serves (luatrain's tensors work this way).
    r.send("fobj = setmetatable({}, {__index = function() error('called') end, "
           "__methods = {fn_method = function() end}, __getters = {prop_x = function() end}})\r")
    r.expect(r"> ")
    r.send("fobj:fn_m\t")
    r.expect(r"ethod")
    r.send("\x15fobj.prop\t")
    r.expect(r"_x")
    r.send("\x15fobj:prop\t")           # a property is not a method
    time.sleep(0.3)
    r.send("\x15print('no_' .. 'error')\r")
    out = r.expect(r"\r\nno_error\r\n> ")
    if b"prop_x" in out or b"called" in out:
        raise AssertionError("wrong completion: %r" % out)


def check_complete_tensor(r):
    r.send("print(type(lt.randn))\r")
    if b"function" not in r.expect(r"\r\n\w+\r\n> "):
        return "skipped: lt.randn is missing"
    r.send("tx = lt.randn(2, 3)\r")
    r.expect(r"> ")
    r.send("tx:narr\t")
    r.expect(r"ow")
    r.send("(1, 1, 1):numel()\r")
    r.expect(r"\r\n3\r\n> ")


def check_interrupt_running(r):
    r.send("while true do end\r")
    time.sleep(0.2)
    r.send("\x03", at_prompt=False)
    r.expect(r"interrupted!")
    r.expect(r"> ")
    r.send("print('alive_after_interrupt')\r")
    r.expect(r"\r\nalive_after_interrupt\r\n> ")


def check_interrupt_prompt(r):
    r.send("garbage_text_here")
    r.expect(r"garbage_text_here")
    r.send("\x03")
    r.expect(r"> ")
    r.send("6 * 7\r")
    out = r.expect(r"\r\n42\r\n> ")
    if b"garbage" in out:
        raise AssertionError("the interrupted line was kept: %r" % out)
    r.send("if true then\r")            # Ctrl-C at ">> " drops the whole chunk
    r.expect(r">> ")
    r.send("\x03")
    r.expect(r"> ")
    r.send("print('fresh')\r")
    out = r.expect(r"\r\nfresh\r\n> ")
    if b">> " in out:
        raise AssertionError("still in the unfinished chunk: %r" % out)


def check_eof_exits(r):
    code = r.send_eof()
    if code != 0:
        raise AssertionError("exit status %d after Ctrl-D" % code)


SANITIZER = re.compile(rb"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer")


def no_sanitizer_report(r):
    r._read(0.05)
    m = SANITIZER.search(r.log)
    if m:
        raise AssertionError("sanitizer report: %r" % r.log[m.start():m.start() + 300])


def run_session(binary, home, steps):
    r = start(binary, home)
    try:
        steps(r)
        code = r.send_eof()
        no_sanitizer_report(r)
        if code != 0:
            raise AssertionError("exit status %d; terminal showed %r" % (code, r.buf[-400:]))
    finally:
        r.close()


def check_history(binary, home):
    path = os.path.join(home, ".luatrain_history")

    def first(r):
        r.send("hist_value = 31337\r")
        r.expect(r"> ")
        r.send("print('recalled_' .. 40 + 2)\r")
        r.expect(r"recalled_42\r\n> ")
        r.send("do\r")
        r.expect(r">> ")
        r.send("local s = 'a\\\\b'\r")      # a backslash survives the file
        r.expect(r">> ")
        r.send("end\r")
        r.expect(r"> ")
    run_session(binary, home, first)
    lines = open(path).read().splitlines()
    want = ["hist_value = 31337", "print('recalled_' .. 40 + 2)", "do\\nlocal s = 'a\\\\\\\\b'\\nend"]
    if lines[-3:] != want:
        raise AssertionError("history file ends with %r, expected %r" % (lines[-3:], want))

    def second(r):                          # Ctrl-P recalls what an earlier REPL ran
        r.send("\x10\x10\r")
        r.expect(r"recalled_42\r\n> ")
    run_session(binary, home, second)


def check_history_bounded(binary, home):
    path = os.path.join(home, ".luatrain_history")
    with open(path, "w") as f:
        for i in range(1500):
            f.write("old_%d = %d\n" % (i, i))

    def steps(r):
        r.send("\x10\r")                   # the newest loaded entry runs
        r.expect(r"> ")
        r.send("old_1499\r")
        r.expect(r"\r\n1499\r\n> ")
        r.send("bounded_marker = 1\r")
        r.expect(r"> ")
    run_session(binary, home, steps)
    lines = open(path).read().splitlines()
    if len(lines) != 1000:
        raise AssertionError("history has %d lines, expected 1000" % len(lines))
    if lines[-1] != "bounded_marker = 1" or lines[0] != "old_502 = 502":
        raise AssertionError("history kept the wrong lines: first %r, last %r" % (lines[0], lines[-1]))


def main():
    binary = os.path.abspath(sys.argv[1])
    passed = failed = 0
    in_session = [check_expression, check_multiline, check_error_keeps_going,
                  check_complete_global_field, check_complete_methods,
                  check_complete_function_index, check_complete_tensor,
                  check_interrupt_running, check_interrupt_prompt, check_eof_exits]
    whole = [check_history, check_history_bounded]
    for check in in_session + whole:
        home = tempfile.mkdtemp(prefix="lt_repl_")
        name = check.__name__[len("check_"):]
        try:
            if check in whole:
                note = check(binary, home)
            else:
                r = start(binary, home)
                try:
                    note = check(r)
                    no_sanitizer_report(r)
                finally:
                    r.close()
            print("PASS repl %s%s" % (name, " (%s)" % note if note else ""))
            passed += 1
        except AssertionError as e:
            print("FAIL repl %s: %s" % (name, e))
            failed += 1
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
