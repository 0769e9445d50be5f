"""Joining a Ray cluster as users start it (`ray start --head`, current Ray's token authentication).

ray.init retries a silent or refusing head for 20 s and more and names neither cause, and it sends a
token only when RAY_AUTH_MODE=token. So evalkit checks the head first, in seconds: a TCP connect to its
GCS port, then the first call ray.init would make, without and with this machine's token (Ray's order:
RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token); each failure is one line naming the fix.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from ..types import EvalkitError


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EvalkitError('--ray needs the ray package; pip install "evalkit[ray]" (or "ray[default]")')
    return ray


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at `address` (None: $RAY_ADDRESS, a `ray start` cluster here, else a new one).

    ray.init retries a silent or refusing head for 20 s and more, and names neither cause; so an
    existing cluster is checked first (`_check_head`): seconds, and one line for each failure."""
    target = _cluster_address(address)
    if target is not None:
        _check_head(target, shown=address or target)
        _check_node_here(target)
        address = target
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as e:  # ConnectionError, bad address, version mismatch
        where = address or "$RAY_ADDRESS / this machine"
        raise EvalkitError(f"cannot join the Ray cluster at {where} ({_first_line(e)}); check `ray status` on the head node and pass --ray HEAD_IP:6379")


PROBE_S = 3.0  # a head that takes longer to accept a TCP connection or answer one call is not there
GCS_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # the first call ray.init makes; it checks the token
TOKEN_HINT = (
    "set RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` on the head prints it), or RAY_AUTH_TOKEN_PATH "
    "to a file holding it, or copy the head's ~/.ray/auth_token to this machine"
)


def _cluster_address(address: str | None) -> str | None:
    """HOST:PORT of the head ray.init(address) would join; None when it would start a new cluster
    (or when Ray's own resolution is unavailable, or for a ray:// client address: Ray checks those)."""
    given = address or os.environ.get("RAY_ADDRESS") or None
    if given == "local" or (given and given.startswith("ray://")):
        return None
    if given and given != "auto":
        return given
    try:  # None: the cluster last started with `ray start` here; auto: that, else the one running here
        from ray._private import services
    except ImportError:
        return None
    try:
        if given == "auto":
            return services.canonicalize_bootstrap_address_or_die("auto")
        return services.canonicalize_bootstrap_address(None)
    except ConnectionError as e:  # auto: no cluster, or several, on this machine
        raise EvalkitError(f"--ray auto: {_first_line(e)}; pass --ray HEAD_IP:PORT as `ray start --head` printed it")


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EvalkitError(f"--ray {target}: not a HOST:PORT address; pass the one `ray start --head` printed (HEAD_IP:6379)")
    return host.strip("[]"), int(port)


def _check_head(target: str, shown: str) -> None:
    """A TCP connect to the head's GCS port, then its first call without and with this machine's token.

    A head with token authentication (current Ray's default once a token exists) refuses a driver
    that does not send the token, and ray.init sends it only when RAY_AUTH_MODE=token: so when the
    head asks for a token and ours is accepted, token mode is switched on for this process."""
    host, port = _split(target)
    try:
        socket.create_connection((host, port), timeout=PROBE_S).close()
    except socket.gaierror as e:
        raise EvalkitError(f"--ray {shown}: cannot resolve {host!r} ({e.strerror}); pass the head's IP as `ray start --head` printed it")
    except OSError as e:
        why = f"no answer within {PROBE_S:g} s" if isinstance(e, socket.timeout) else (e.strerror or type(e).__name__).lower()
        raise EvalkitError(
            f"nothing answers at {host}:{port} ({why}); start the head there with `ray start --head --port {port}` "
            f"or pass the address it printed; from another machine the port must be open in the firewall"
        )
    try:
        import grpc
    except ImportError:  # plain `ray` without [default]: leave authentication to Ray
        return
    if _gcs_answers(grpc, host, port, None):
        return
    token, source = _local_token()
    if token is None:
        raise EvalkitError(f"the Ray cluster at {shown} requires token authentication and this machine has no token; {TOKEN_HINT}")
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        raise EvalkitError(f"the Ray cluster at {shown} requires token authentication but RAY_AUTH_MODE=disabled here; unset it or set RAY_AUTH_MODE=token")
    if not _gcs_answers(grpc, host, port, token):
        raise EvalkitError(f"the Ray cluster at {shown} rejected the token from {source}; {TOKEN_HINT}")
    _enable_token_mode()


def _gcs_answers(grpc: Any, host: str, port: int, token: str | None) -> bool:
    """True: the GCS answered; False: it refused the (missing) token; anything else is one line."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(f"[{host}]:{port}" if ":" in host else f"{host}:{port}") as channel:
        call = channel.unary_unary(GCS_CALL, request_serializer=bytes, response_deserializer=bytes)
        try:
            call(b"", timeout=PROBE_S, metadata=metadata)
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                return False
            raise EvalkitError(
                f"{host}:{port} accepts connections but does not answer as a Ray head ({e.code().name}: {(e.details() or '')[:120]}); "
                f"pass the GCS address `ray start --head` printed (port 6379 unless --port was given), and use the same Ray version on every machine"
            )


def _local_token() -> tuple[str | None, str | None]:
    """This machine's token and where it came from, in Ray's documented order: RAY_AUTH_TOKEN,
    then the file RAY_AUTH_TOKEN_PATH names (an unreadable one is an error, as for Ray), then
    ~/.ray/auth_token."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token, "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise EvalkitError(f"RAY_AUTH_TOKEN_PATH={path} cannot be read ({getattr(e, 'strerror', None) or e}); point it at the file holding the head's token")
        if not token:
            raise EvalkitError(f"RAY_AUTH_TOKEN_PATH={path} is empty; put the head's token there (`ray get-auth-token` on the head prints it)")
        return token, f"RAY_AUTH_TOKEN_PATH={path}"
    default = Path.home() / ".ray" / "auth_token"
    try:
        token = default.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None, None
    return (token, str(default)) if token else (None, None)


def _enable_token_mode() -> None:
    """What `ray start` does for itself when a token exists: RAY_AUTH_MODE=token, re-read by Ray."""
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):
        pass


def _check_node_here(target: str) -> None:
    """A driver attaches to a Ray node on its own machine: with none of that cluster here, ray.init
    would wait a minute for one. The raylets running here name their head (same port)."""
    try:
        from ray._private.services import find_gcs_addresses
    except ImportError:
        return
    port = str(_split(target)[1])
    if not any(a.rpartition(":")[2] == port for a in find_gcs_addresses()):
        raise EvalkitError(
            f"no Ray node of the cluster at {target} runs on this machine; run evalkit on the head node, or join "
            f"this machine first with `ray start --address {target}` (same RAY_AUTH_MODE and token as the head)"
        )




def _first_line(e: BaseException) -> str:
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return text[-1][:200] if text else cause.__class__.__name__
