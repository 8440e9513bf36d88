"""The account pages: sign up, log in, log out, change password. Session login with CSRF; the same services as the
API, so lockout and rate limits apply here too and their refusal is shown as a friendly form error."""

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.forms import LoginForm, PasswordChangeForm, SignupForm
from accounts.models import User
from core.errors import PlatformError

SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


class AuthedRequest(HttpRequest):
    """What login_required guarantees: a signed-in platform user."""

    user: User


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("dashboard")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_authenticate(
                request=request, email=form.validated["email"], password=form.validated["password"]
            )
        except PlatformError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code if 400 <= exc.status_code < 500 else 400
        else:
            login(request, user, backend=SESSION_BACKEND)
            return HttpResponseRedirect(_safe_next(request))
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", ""), "nav": "login"}
    return render(request, "accounts/login.html", context, status=status)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(request=request, **form.validated)
        except PlatformError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code if 400 <= exc.status_code < 500 else 400
        else:
            login(request, user, backend=SESSION_BACKEND)
            messages.success(request, "Welcome! Your account is ready: create your first store.")
            return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form, "nav": "signup"}, status=status)


@require_POST
@csrf_protect
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@sensitive_post_parameters("current_password", "new_password")
@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change_page(request: AuthedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # The service also hands the new password to the user's ready stores; their outcome is in each
            # store's activity log.
            services.user_change_password(
                user=request.user,
                current_password=form.validated["currentPassword"],
                new_password=form.validated["newPassword"],
            )
        except PlatformError as exc:
            form.add_error("current_password", exc.message)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, "Password changed.")
            return redirect("dashboard")
    return render(request, "accounts/password_change.html", {"form": form, "nav": "account"})
