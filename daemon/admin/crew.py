"""The office's crew page: users with their role, state and last sign-in; add, reset, role, disable, remove.

A new user or a reset gets a generated password, shown once in the note
after the redirect (never stored in clear, never in an address); or the
admin makes a one-time sign-in link, shown once with its QR code, for the
crew member's phone. Disabling,
a reset, a change of role and removal end the user's sessions in the same
transaction (``jobgallery/users.py``): their phone is signed out at its next
request. Uploads keep their uploader's name. An admin cannot lock the office
out: not their own account, not the last admin who can sign in.
"""

from __future__ import annotations

import bottle

from daemon.admin.notes import Note
from daemon.admin.office import NAME, Office, text
from daemon.responses import Link
from daemon.sheet import qr_svg, site_address
from jobgallery import signin_links, users
from jobgallery.errors import UsageError

CREW = Link("Back to the crew", "/admin/crew")
ROLES = {"admin": True, "crew": False}
ACTIONS = ("reset", "link", "admin", "crew", "disable", "enable", "remove")


def install(app: bottle.Bottle, office: Office) -> None:
    pages = CrewPages(office)
    app.route("/admin/crew", "GET", pages.list_page, auth="admin")
    app.route("/admin/crew", "POST", pages.add, auth="admin")
    app.route(f"/admin/crew/<name:{NAME}>", "POST", pages.change, auth="admin")


def role_of(value: str) -> bool:
    if value not in ROLES:
        raise UsageError("choose a role: crew or admin")
    return ROLES[value]


class CrewPages:
    def __init__(self, office: Office) -> None:
        self.office = office

    def list_page(self) -> bottle.HTTPResponse:
        office = self.office
        return office.page("admin/crew.html", "crew", people=users.list_users(office.conn), state=users.state)

    def add(self) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            office = self.office
            name = text("name", 200).strip()
            admin = role_of(text("role", 10))
            password = users.add_generated(office.conn, name, admin, office.user.name)
            role = "an admin" if admin else "crew"
            message = f"Added {name} as {role}. Give them this password now; it is not shown again."
            return office.done("/admin/crew", Note(message, secret=password))

        return self.office.act(CREW, action)

    def change(self, name: str) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            office = self.office
            what = text("action", 20)
            if what not in ACTIONS:
                raise UsageError("choose what to do with the user")
            return office.done("/admin/crew", getattr(self, f"do_{what}")(name))

        return self.office.act(CREW, action)

    def do_reset(self, name: str) -> Note:
        password = users.reset_password(self.office.conn, name, self.office.user.name)
        message = f"New password for {name}; their phones are signed out. It is not shown again."
        return Note(message, secret=password)

    def do_link(self, name: str) -> Note:
        """A one-time sign-in link and its QR code, for the crew member's phone (``jobgallery/signin_links.py``)."""
        token = signin_links.create(self.office.conn, name, self.office.user.name)
        address = site_address(bottle.request.environ, f"/login/link/{token}")
        hours = signin_links.LINK_HOURS
        message = f"A sign-in link for {name}: open it on their phone (or scan the code) within {hours} hours."
        return Note(message, secret=address, qr=str(qr_svg(address)))

    def do_admin(self, name: str) -> Note:
        users.set_role(self.office.conn, name, True, self.office.user.name)
        return Note(f"{name} is an admin now.")

    def do_crew(self, name: str) -> Note:
        users.set_role(self.office.conn, name, False, self.office.user.name)
        return Note(f"{name} is crew now; their phones were signed out.")

    def do_disable(self, name: str) -> Note:
        ended = users.disable_user(self.office.conn, name, self.office.user.name)
        sessions = "session" if ended == 1 else "sessions"
        return Note(f"Disabled {name}: they cannot sign in, and {ended} {sessions} ended now.")

    def do_enable(self, name: str) -> Note:
        users.enable_user(self.office.conn, name, self.office.user.name)
        return Note(f"Enabled {name}: they can sign in again.")

    def do_remove(self, name: str) -> Note:
        users.remove_by(self.office.conn, name, self.office.user.name)
        return Note(f"Removed {name}; their uploads keep their name.")
