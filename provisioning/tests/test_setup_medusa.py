"""setup_medusa against a scripted kubectl: the seed runs first (a re-run is that one exec), `medusa user` only after
its login is refused; the secrets travel on stdin, the store name as an argv item; the seed's exit codes and a
report that shows an incomplete shop become readable failures. set_medusa_password: the reset-password token flow,
then a login with the new password; the password on stdin only; a refused reset is a readable failure."""

import json

import pytest

from provisioning import setup
from provisioning.models import Operation
from provisioning.setup import EngineSetupFailed, MedusaLoginRefused, set_medusa_password, setup_medusa
from provisioning.steps import Attempt, step
from provisioning.values import ensure_secrets, secret_values
from stores.models import Engine
from stores.tests.factories import StoreFactory

SEED_CLIENT = "/usr/local/lib/storeplane/medusa-seed-client.js"

# The scripted kubectl: one ready medusa pod; `exec` answers from STATE (a JSON file): "users" says whether the
# admin exists yet, "report" is the seed's stdout. `medusa user` makes the admin exist. The password reset stores
# NEW_PASSWORD as "password" (or exits as "reset_exit" says), and the login check takes only that password.
KUBECTL = """
import json, sys
state_path = __file__ + ".state"
state = json.load(open(state_path))
if "get" in argv and "pods" in argv:
    pod = {"metadata": {"name": "medusa-pod", "labels": {}}, "spec": {"containers": [{"name": "medusa"}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    print(json.dumps({"items": [pod]})); sys.exit(0)
command = argv[argv.index("--") + 1:]
if "medusa user" in " ".join(command):
    state["users"] = True
    json.dump(state, open(state_path, "w")); sys.exit(0)
if SEED in command:
    if not state["users"] or state.get("refusals", 0) > 0:
        if state["users"]:
            state["refusals"] -= 1
            json.dump(state, open(state_path, "w"))
        print("storeplane seed: the admin login was refused (HTTP 401)", file=sys.stderr); sys.exit(2)
    if state.get("exit"):
        print("storeplane seed: " + state["reason"], file=sys.stderr); sys.exit(state["exit"])
    print(state["report"]); sys.exit(0)
env = dict(line.split("=", 1) for line in stdin.split("\\n--\\n")[0].splitlines() if "=" in line)
if RESET_SCRIPT in command:
    if state.get("reset_exit"):
        print("storeplane password reset: HTTP 401", file=sys.stderr); sys.exit(state["reset_exit"])
    state["password"] = env["NEW_PASSWORD"]
    json.dump(state, open(state_path, "w")); sys.exit(0)
if LOGIN_SCRIPT in command:
    sys.exit(0 if env.get("ADMIN_PASSWORD") == state.get("password") else 1)
sys.exit(9)
"""


def report(products: int = 8, options: int = 2, revoked: bool = False) -> str:
    return json.dumps(
        {
            "ok": True,
            "store": {"name": "shop", "currency": "usd", "updated": []},
            "region": {"id": "reg_1", "name": "North America", "created": False},
            "shippingOptions": {"created": [], "existing": options},
            "products": {"created": [], "existing": products, "addedToChannel": []},
            "publishableKey": {"created": False, "addedToSalesChannel": False, "revoked": revoked},
            "salesChannel": "sc_1",
            "seconds": 0.1,
        }
    )


@pytest.fixture
def medusa_store(fake_kubectl, db):
    def make(**state):
        tool = fake_kubectl(
            KUBECTL.replace("SEED", repr(SEED_CLIENT))
            .replace("RESET_SCRIPT", repr(setup.MEDUSA_RESET_SCRIPT))
            .replace("LOGIN_SCRIPT", repr(setup.MEDUSA_LOGIN_CHECK))
        )
        (tool.path.parent / (tool.path.name + ".state")).write_text(
            json.dumps({"users": False, "report": report(), **state})
        )
        store = StoreFactory(engine=Engine.MEDUSA, theme=None, name="store")
        secrets = ensure_secrets(store)
        return tool, store, secrets

    return make


def run_setup(store, secrets):
    attempt = Attempt(store, Operation.CREATE, 0, None, secret_values(store, secrets))
    with step(attempt, "engine_setup"):
        return setup_medusa(store, email="owner@example.com", password=secrets["adminPassword"])


def execs(tool) -> list[dict]:
    return [call for call in tool.calls if "exec" in call["argv"]]


def test_a_new_store_gets_its_admin_then_the_seed_and_a_rerun_is_the_seed_alone(medusa_store):
    tool, store, secrets = medusa_store()
    assert run_setup(store, secrets)["products"]["existing"] == 8
    first = [call["argv"][call["argv"].index("--") + 1 :] for call in execs(tool)]
    assert [SEED_CLIENT in c for c in first] == [True, False, True]  # refused, `medusa user`, seeded
    assert first[0][-2:] == [SEED_CLIENT, "store"]  # the name is an argv item, not an env value (masked output)
    for call in execs(tool):
        assert secrets["adminPassword"] not in json.dumps(call["argv"])
        assert secrets["publishableKey"] not in json.dumps(call["argv"])
    seed_stdin = execs(tool)[0]["stdin"]
    assert f"PUBLISHABLE_KEY={secrets['publishableKey']}\n" in seed_stdin
    assert f"ADMIN_PASSWORD={secrets['adminPassword']}\n" in seed_stdin

    before = len(execs(tool))
    run_setup(store, secrets)
    assert len(execs(tool)) == before + 1


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"exit": 3, "reason": "publishable_key must be pk_ followed by 64 lowercase hex digits"}, "refused the shop"),
        ({"report": report(products=7)}, "left the shop incomplete"),
        ({"report": report(options=1)}, "left the shop incomplete"),
        ({"report": report(revoked=True)}, "publishable API key is revoked"),
        ({"report": "Listening on 9000"}, "printed no report"),
    ],
)
def test_a_seed_that_refuses_or_leaves_the_shop_incomplete_fails_with_a_reason(medusa_store, state, reason):
    tool, store, secrets = medusa_store(users=True, **state)
    with pytest.raises(EngineSetupFailed, match=reason) as failure:
        run_setup(store, secrets)
    assert not isinstance(failure.value, MedusaLoginRefused)
    assert secrets["adminPassword"] not in str(failure.value)


def test_a_login_refused_after_medusa_user_fails_as_such(medusa_store, monkeypatch):
    tool, store, secrets = medusa_store()
    # `medusa user` "succeeds" but the admin still cannot log in (e.g. a different password).
    tool.path.write_text(tool.path.read_text().replace('state["users"] = True', 'state["users"] = False'))
    monkeypatch.setattr(setup, "MEDUSA_LOGIN_RETRY_SECONDS", 0)
    with pytest.raises(MedusaLoginRefused, match="cannot log in"):
        run_setup(store, secrets)
    # The seed, `medusa user`, then the seed's login tried MEDUSA_LOGIN_TRIES times before it counts as refused.
    assert len(execs(tool)) == 2 + setup.MEDUSA_LOGIN_TRIES


def test_a_new_admin_whose_first_login_is_refused_is_tried_again(medusa_store, monkeypatch):
    monkeypatch.setattr(setup, "MEDUSA_LOGIN_RETRY_SECONDS", 0)
    tool, store, secrets = medusa_store(refusals=1)  # a loaded node: the first login after `medusa user` fails
    assert run_setup(store, secrets)["ok"] is True
    assert len(execs(tool)) == 4  # seed (no admin yet), medusa user, seed refused once, seed


def change_password(store, *, old: str, new: str) -> None:
    attempt = Attempt(store, Operation.PASSWORD, 0, None, [new, old])
    with step(attempt, "admin_password"):
        set_medusa_password(store, email="owner@example.com", password=new)


def test_a_password_change_resets_it_by_medusas_token_flow_and_checks_the_new_one_logs_in(medusa_store):
    tool, store, _ = medusa_store(users=True, password="old-admin-pass")
    change_password(store, old="old-admin-pass", new="n3w-pass!")
    reset, login = [call["argv"][call["argv"].index("--") + 1 :] for call in execs(tool)]
    assert reset[-3:] == ["node", "-e", setup.MEDUSA_RESET_SCRIPT] and login[-1] == setup.MEDUSA_LOGIN_CHECK
    # Medusa's own reset: its user service signs the token, its reset-password route stores the password.
    assert "generateResetPasswordToken" in reset[-1] and "/admin/users/reset-password" in reset[-1]
    assert "n3w-pass!\n" in execs(tool)[0]["stdin"] and "old-admin-pass" not in execs(tool)[0]["stdin"]
    for call in execs(tool):
        assert "n3w-pass!" not in json.dumps(call["argv"]) and "old-admin-pass" not in json.dumps(call["argv"])
    # A retry of a change already applied (the old password no longer logs in) applies it again.
    change_password(store, old="old-admin-pass", new="n3w-pass!")
    assert len(execs(tool)) == 4


def test_a_refused_password_reset_fails_with_medusas_answer_and_no_login_check(medusa_store):
    tool, store, _ = medusa_store(users=True, password="old-admin-pass", reset_exit=1)
    with pytest.raises(EngineSetupFailed, match=r"did not reset the admin password \(HTTP 401\)") as failure:
        change_password(store, old="old-admin-pass", new="n3w-pass!")
    assert "n3w-pass!" not in str(failure.value) and "old-admin-pass" not in str(failure.value)
    assert len(execs(tool)) == 1
