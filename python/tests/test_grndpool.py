# SPDX-License-Identifier: Apache-2.0
"""pytest suite of the grndpool Python module (run by CTest as python.pytest)."""
import collections
import multiprocessing
import os
import random
import secrets
import string

import pytest

import grndpool


def served():
    return grndpool.stats()["bytes_served"]


def test_draws_come_from_grndpool():
    before = served()
    grndpool.token_bytes(4096)
    assert served() >= before + 4096
    assert grndpool.describe().startswith("grndpool strategy=")


@pytest.mark.parametrize("n", [0, 1, 15, 16, 32, 255, 256, 1000, 100000])
def test_token_bytes_lengths(n):
    assert isinstance(grndpool.token_bytes(n), bytes)
    assert len(grndpool.token_bytes(n)) == n
    assert len(grndpool.token_hex(n)) == 2 * n
    secrets_urlsafe_shape(grndpool.token_urlsafe(n), n)


def secrets_urlsafe_shape(token, n):
    # The same length and alphabet secrets.token_urlsafe gives for n bytes.
    assert len(token) == len(secrets.token_urlsafe(n))
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")



def test_defaults_match_secrets():
    assert len(grndpool.token_bytes()) == len(secrets.token_bytes()) == 32
    assert len(grndpool.token_bytes(None)) == 32
    assert len(grndpool.token_hex()) == len(secrets.token_hex())
    assert len(grndpool.token_urlsafe()) == len(secrets.token_urlsafe())
    assert set(grndpool.token_hex(64)) <= set("0123456789abcdef")


def test_urlsafe_decodes_to_the_bytes_length():
    import base64
    for n in range(0, 70):
        t = grndpool.token_urlsafe(n)
        assert len(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))) == n


def test_bad_arguments_raise_like_secrets():
    for f in (grndpool.token_bytes, grndpool.token_hex, grndpool.token_urlsafe):
        with pytest.raises(ValueError):
            f(-1)
        with pytest.raises(TypeError):
            f("16")
        with pytest.raises(TypeError):
            f(1, 2)
    with pytest.raises(ValueError):
        grndpool.randbelow(0)
    with pytest.raises(ValueError):
        grndpool.randbelow(-5)
    with pytest.raises(ValueError):
        grndpool.randbelow(-(2**100))
    with pytest.raises(TypeError):
        grndpool.randbelow(2.5)
    with pytest.raises(ValueError):
        grndpool.randbits(-1)
    with pytest.raises(IndexError):
        grndpool.choice([])


def test_tokens_do_not_repeat():
    tokens = [grndpool.token_bytes(16) for _ in range(20000)]
    assert len(set(tokens)) == len(tokens)
    assert b"\0" * 16 not in tokens


@pytest.mark.parametrize("bound", [1, 2, 6, 1000, 2**32 - 1, 2**32, 2**32 + 1, 2**64 + 3, 10**40])
def test_randbelow_range(bound):
    values = [grndpool.randbelow(bound) for _ in range(2000)]
    assert all(isinstance(v, int) and 0 <= v < bound for v in values)
    if bound >= 1000:
        # The top half of the range is reached (a bias bug would miss it).
        assert any(v >= bound // 2 for v in values)


def test_randbelow_is_uniform():
    # Chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile. A
    # sample over it is drawn again, so a correct randbelow fails about once
    # in a million runs and a biased one (over it every time) still fails.
    def chi2():
        counts = collections.Counter(grndpool.randbelow(6) for _ in range(60000))
        return sum((counts[k] - 10000) ** 2 / 10000 for k in range(6)), counts

    first, counts = chi2()
    if first >= 20.5:
        second, counts = chi2()
        assert second < 20.5, (first, second, counts)


@pytest.mark.parametrize("k", [0, 1, 7, 8, 31, 32, 63, 64, 65, 100, 1000])
def test_randbits(k):
    values = [grndpool.randbits(k) for _ in range(500)]
    assert all(0 <= v < 2**k for v in values)
    if k >= 8:
        assert max(v.bit_length() for v in values) == k  # the top bit is reached


def test_choice():
    seq = "abcdef"
    seen = {grndpool.choice(seq) for _ in range(1000)}
    assert seen == set(seq)
    assert grndpool.choice(range(10, 11)) == 10


def test_random_subclass():
    rng = grndpool.SystemRandom()
    assert isinstance(rng, random.Random)
    assert grndpool.SystemRandom is grndpool.GrndpoolRandom
    v = list(range(100))
    rng.shuffle(v)
    assert sorted(v) == list(range(100)) and v != list(range(100))
    s = rng.sample(range(1000), 50)
    assert len(set(s)) == 50 and all(0 <= x < 1000 for x in s)
    u = [rng.uniform(2.5, 3.5) for _ in range(1000)]
    assert all(2.5 <= x <= 3.5 for x in u) and min(u) < 2.6 and max(u) > 3.4
    f = [rng.random() for _ in range(1000)]
    assert all(0.0 <= x < 1.0 for x in f)
    assert {rng.randint(1, 6) for _ in range(600)} == set(range(1, 7))
    assert len(rng.choices("ab", k=10)) == 10
    assert len(rng.randbytes(9)) == 9
    assert 0 <= rng.getrandbits(70) < 2**70
    rng.seed(42)  # no state: nothing happens, as with random.SystemRandom
    with pytest.raises(NotImplementedError):
        rng.getstate()
    with pytest.raises(NotImplementedError):
        rng.setstate(None)
    rng.gauss(0, 1), rng.expovariate(1.0), rng.betavariate(2, 3)


def test_os_fork_never_repeats():
    grndpool.token_bytes(16)  # the parent's slice is warm before the fork
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, b"".join(grndpool.token_bytes(16) for _ in range(1000)))
        finally:
            os._exit(0)
    os.close(w)
    parent = [grndpool.token_bytes(16) for _ in range(1000)]
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    child = [data[i:i + 16] for i in range(0, len(data), 16)]
    assert len(child) == 1000
    assert not set(parent) & set(child)


def _draw_tokens(_):
    return [grndpool.token_bytes(16) for _ in range(500)]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_never_repeats(method):
    grndpool.token_bytes(16)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(4) as pool:
        results = pool.map(_draw_tokens, range(8))
    mine = _draw_tokens(0)
    tokens = [t for r in results for t in r] + mine
    assert len(tokens) == 9 * 500
    assert len(set(tokens)) == len(tokens)


def test_repeat_check_finds_a_planted_repeat():
    # The positive control of the fork checks: a copied token is caught.
    a = [grndpool.token_bytes(16) for _ in range(10)]
    assert set(a) & set([grndpool.token_bytes(16), a[3]])
