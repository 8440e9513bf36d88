"""The auth routes (contract §1.4 #1-#4, plus refresh and logout): each success and each error status."""

import re

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role, User
from accounts.tests.clients import client_for
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def register(api, **overrides):
    body = {"email": "Ada@Example.com", "username": "ada", "password": "s3cret-pass"}
    body.update(overrides)
    return api.post("/api/v1/auth/register", body, format="json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["requestId"] == response["X-Request-ID"]
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["retryable"], bool)
    assert body["error"]["message"]
    return body["error"]


class TestRegister:
    def test_creates_a_tenant_and_returns_a_working_token(self, api):
        response = register(api)
        assert response.status_code == 201
        body = response.json()
        assert body["message"] == "Registration successful."
        assert body["user"]["email"] == "ada@example.com"
        assert body["user"]["username"] == "ada"
        assert body["user"]["role"] == "tenant"
        assert set(body["user"]) == {"id", "email", "username", "role"}
        me = api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
        assert me.status_code == 200
        assert me.json()["user"]["id"] == body["user"]["id"]
        user = User.objects.get(email="ada@example.com")
        assert user.password != "s3cret-pass" and user.check_password("s3cret-pass")

    def test_the_first_user_is_not_made_admin(self, api):
        assert not User.objects.exists()
        assert register(api).json()["user"]["role"] == "tenant"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"email": "not-an-email"}, '"email" must be a valid email'),
            ({"email": "x@y.local"}, '"email" must be a valid email'),
            ({"email": " ada@example.com"}, '"email" must be a valid email'),
            ({"email": 42}, '"email" must be a string'),
            ({"username": "ab"}, '"username" length must be at least 3 characters long'),
            ({"username": "bad name!"}, "Username must contain only letters, numbers, hyphens, and underscores."),
            ({"password": "short"}, "Password must be at least 8 characters."),
            ({"password": "x" * 129}, '"password" length must be less than or equal to 128 characters long'),
            ({"password": ["a", "list"]}, '"password" must be a string'),
        ],
    )
    def test_invalid_input_is_a_400_and_creates_nobody(self, api, overrides, message):
        error = assert_error(register(api, **overrides), 400, "VALIDATION_ERROR")
        assert message.rstrip(".") in error["message"]
        assert error["suggestion"] == "Check the request parameters and try again."
        assert error["details"][0]["message"] == message
        assert not User.objects.exists()

    def test_every_missing_field_is_reported(self, api):
        error = assert_error(api.post("/api/v1/auth/register", {}, format="json"), 400, "VALIDATION_ERROR")
        assert {d["path"][0] for d in error["details"]} == {"email", "username", "password"}
        assert '"email" is required' in error["message"]

    def test_unknown_keys_are_ignored_and_role_cannot_be_chosen(self, api):
        response = register(api, role="admin", isAdmin=True)
        assert response.status_code == 201
        assert User.objects.get().role == Role.TENANT

    def test_duplicate_email_is_409_case_insensitive(self, api):
        UserFactory(email="ada@example.com")
        error = assert_error(register(api, email="ADA@example.com"), 409, "USER_EXISTS")
        assert error["message"] == "A user with this email already exists."
        assert User.objects.count() == 1

    def test_duplicate_username_is_409(self, api):
        UserFactory(username="ada")
        error = assert_error(register(api), 409, "USER_EXISTS")
        assert error["message"] == "A user with this email or username already exists."
        assert User.objects.count() == 1


class TestLogin:
    def login(self, api, email, password):
        return api.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")

    def test_success(self, api):
        user = UserFactory(email="bob@example.com")
        response = self.login(api, "BOB@example.com", DEFAULT_PASSWORD)
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "Login successful."
        assert body["user"] == {
            "id": str(user.pk),
            "email": "bob@example.com",
            "username": user.username,
            "role": "tenant",
        }
        assert body["token"] and body["refresh"]

    @pytest.mark.parametrize("email", ["bob@example.com", "nobody@example.com"])
    def test_wrong_password_or_unknown_email_is_401(self, api, email):
        UserFactory(email="bob@example.com")
        error = assert_error(self.login(api, email, "wrong-password"), 401, "INVALID_CREDENTIALS")
        assert error["message"] == "Invalid email or password."

    def test_inactive_user_cannot_log_in(self, api):
        UserFactory(email="bob@example.com", is_active=False)
        assert_error(self.login(api, "bob@example.com", DEFAULT_PASSWORD), 401, "INVALID_CREDENTIALS")

    def test_non_string_email_is_400_not_500(self, api):
        error = assert_error(self.login(api, 12345, "whatever"), 400, "VALIDATION_ERROR")
        assert error["details"][0]["path"] == ["email"]

    def test_missing_password_is_400(self, api):
        assert_error(api.post("/api/v1/auth/login", {"email": "a@example.com"}, format="json"), 400, "VALIDATION_ERROR")


class TestMe:
    def test_returns_the_user_with_created_at(self, tenant, tenant_api):
        response = tenant_api.get("/api/v1/auth/me")
        assert response.status_code == 200
        user = response.json()["user"]
        assert user["id"] == str(tenant.pk)
        assert set(user) == {"id", "email", "username", "role", "createdAt"}
        assert ISO_MS.match(user["createdAt"])

    def test_without_token_is_401(self, api):
        error = assert_error(api.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")
        assert error["message"] == "Authentication required. Please provide a valid Bearer token."

    @pytest.mark.parametrize("header", ["Token abc", "bearer abc", "Bearer ", "Basic dXNlcjpwYXNz"])
    def test_malformed_header_is_401(self, api, header):
        error = assert_error(api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=header), 401, "UNAUTHORIZED")
        assert error["message"] == "Authentication required. Please provide a valid Bearer token."

    def test_garbage_token_is_401(self, api):
        error = assert_error(api.get("/api/v1/auth/me", HTTP_AUTHORIZATION="Bearer not.a.jwt"), 401, "UNAUTHORIZED")
        assert error["message"] == "Invalid or expired token."

    def test_token_of_a_removed_user_is_401(self, tenant, tenant_api):
        tenant.delete()
        error = assert_error(tenant_api.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")
        assert error["message"] == "Invalid or expired token."

    @pytest.mark.parametrize("claim", ["not-a-uuid", 42, None])
    def test_signed_token_naming_no_possible_user_is_401(self, api, tenant, claim):
        token = AccessToken.for_user(tenant)
        token["id"] = claim
        error = assert_error(api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}"), 401, "UNAUTHORIZED")
        assert error["message"] == "Invalid or expired token."

    def test_token_without_a_user_claim_is_401(self, api, tenant):
        token = AccessToken.for_user(tenant)
        del token["id"]
        error = assert_error(api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}"), 401, "UNAUTHORIZED")
        assert error["message"] == "Invalid or expired token."

    def test_token_of_a_deactivated_user_is_401(self, tenant, tenant_api):
        tenant.is_active = False
        tenant.save()
        error = assert_error(tenant_api.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")
        assert error["message"] == "Invalid or expired token."


class TestChangePassword:
    def test_changes_the_password(self, api, tenant, tenant_api):
        response = tenant_api.patch(
            "/api/v1/auth/password",
            {"currentPassword": DEFAULT_PASSWORD, "newPassword": "brand-new-pass"},
            format="json",
        )
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "Password changed successfully."
        assert body["propagation"] == {"totalStores": 0, "successful": 0, "failed": 0, "details": []}
        tenant.refresh_from_db()
        assert tenant.check_password("brand-new-pass") and not tenant.check_password(DEFAULT_PASSWORD)

    def test_wrong_current_password_is_401_and_changes_nothing(self, tenant, tenant_api):
        response = tenant_api.patch(
            "/api/v1/auth/password", {"currentPassword": "nope-nope", "newPassword": "brand-new-pass"}, format="json"
        )
        error = assert_error(response, 401, "INVALID_PASSWORD")
        assert error["message"] == "Current password is incorrect."
        tenant.refresh_from_db()
        assert tenant.check_password(DEFAULT_PASSWORD)

    def test_short_new_password_is_400_and_changes_nothing(self, tenant, tenant_api):
        response = tenant_api.patch(
            "/api/v1/auth/password", {"currentPassword": DEFAULT_PASSWORD, "newPassword": "short"}, format="json"
        )
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert error["details"][0]["message"] == "New password must be at least 8 characters."
        tenant.refresh_from_db()
        assert tenant.check_password(DEFAULT_PASSWORD)

    def test_requires_authentication(self, api):
        assert_error(api.patch("/api/v1/auth/password", {}, format="json"), 401, "UNAUTHORIZED")


class TestRefreshAndLogout:
    def tokens(self, api, user):
        response = api.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
        return response.json()

    def test_refresh_mints_a_working_access_token(self, api, tenant):
        refresh = self.tokens(api, tenant)["refresh"]
        response = api.post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
        assert response.status_code == 200
        access = response.json()["token"]
        assert api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200

    def test_refresh_with_an_access_token_or_garbage_is_401(self, api, tenant):
        access = self.tokens(api, tenant)["token"]
        for bad in (access, "garbage"):
            assert_error(api.post("/api/v1/auth/refresh", {"refresh": bad}, format="json"), 401, "UNAUTHORIZED")

    def test_logout_blacklists_the_refresh_token(self, api, tenant):
        tokens = self.tokens(api, tenant)
        client = client_for(tenant)
        response = client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
        assert response.status_code == 200
        assert response.json()["message"] == "Logged out."
        again = api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert_error(again, 401, "UNAUTHORIZED")

    def test_cannot_log_out_someone_elses_token(self, api, tenant, other_tenant):
        tokens = self.tokens(api, tenant)
        response = client_for(other_tenant).post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
        assert_error(response, 401, "UNAUTHORIZED")
        assert api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 200

    def test_logout_requires_authentication(self, api):
        assert_error(api.post("/api/v1/auth/logout", {"refresh": "x"}, format="json"), 401, "UNAUTHORIZED")
