# Who is connected, and ending a user's pages: app.websocket_sessions() and
# app.close_websocket_sessions(). Sign in (HTTP Basic) as alice, bob or admin,
# password "secret", in two browsers. Each page streams a clock from a
# persistent callback. As admin, list the open pages and close bob's: his
# clock stops at once, and his callbacks go back to HTTP, where the app's own
# protection answers them (revoke him in USERS first to lock him out).
import asyncio
import base64
import datetime

import dash_auth
from dash import Input, Output, State, dcc, html
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND

USERS = {"alice": "secret", "bob": "secret", "admin": "secret"}

app = Dash(backend=BACKEND, websocket_callbacks=True)
dash_auth.BasicAuth(app, USERS)

app.layout = html.Div(
    [
        html.H4("Live clock"),
        html.Div(id="clock"),
        html.H4("Open pages (admin only)"),
        html.Button("Refresh", id="refresh"),
        html.Table(id="sessions"),
        dcc.Input(id="user", placeholder="user name, e.g. bob"),
        html.Button("Close that user's pages", id="close"),
        html.Div(id="closed"),
    ]
)


@callback(persistent=True)
async def clock():
    ws = ctx.websocket
    while not ws.is_shutdown:
        set_props("clock", {"children": datetime.datetime.now().strftime("%H:%M:%S")})
        await asyncio.sleep(1)


def current_user():
    """The signed-in user: dash-auth has checked these Basic credentials."""
    authorization = ctx.headers.get("authorization") or ctx.headers.get("Authorization") or ""
    return base64.b64decode(authorization[6:]).decode().partition(":")[0]


@callback(Output("sessions", "children"), Input("refresh", "n_clicks"))
def list_sessions(n_clicks):
    if current_user() != "admin":
        return []
    rows = [html.Tr([html.Th(h) for h in ("user", "address", "age", "persistent callbacks")])]
    for session in app.websocket_sessions():
        rows.append(
            html.Tr(
                [
                    html.Td(str(session.identity).removeprefix("basic:")),
                    html.Td(session.address),
                    html.Td(f"{session.age:.0f} s"),
                    html.Td(", ".join(session.persistent_callbacks)),
                ]
            )
        )
    return rows


@callback(
    Output("closed", "children"),
    Input("close", "n_clicks"),
    State("user", "value"),
    prevent_initial_call=True,
)
def close_user(n_clicks, user):
    if current_user() != "admin":
        return "only admin may close pages"
    # A session's identity is "basic:<user>" by default (see websocket_identity).
    count = app.close_websocket_sessions(f"basic:{user}", reason="closed by admin")
    return f"closed {count} page(s) of {user}"


if __name__ == "__main__":
    app.run(debug=True)
