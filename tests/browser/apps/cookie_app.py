"""A login over the socket that sets an HttpOnly cookie; who the page is, over HTTP and socket.

``log-in`` runs over the socket and sets the cookie through Dash's
``callback_context.response``; ``who-http`` runs over HTTP and
``who-socket`` over the socket, and both show the cookie their request
carried.
"""

from dash import Input, Output, callback_context, html
from examples._backend import BACKEND

from dash_ws import Dash, callback

app = Dash(__name__, backend=BACKEND)
app.layout = html.Div(
    [
        html.Button("Log in", id="log-in"),
        html.Div(id="logged-in"),
        html.Button("Who (HTTP)", id="ask-http"),
        html.Div(id="who-http"),
        html.Button("Who (socket)", id="ask-socket"),
        html.Div(id="who-socket"),
    ]
)


@callback(
    Output("logged-in", "children"),
    Input("log-in", "n_clicks"),
    websocket=True,
    prevent_initial_call=True,
)
def log_in(n_clicks):
    callback_context.response.set_cookie("session", "ada", httponly=True, samesite="Lax")
    return "logged in"


@callback(Output("who-http", "children"), Input("ask-http", "n_clicks"), prevent_initial_call=True)
def who_over_http(n_clicks):
    return "http: " + callback_context.cookies.get("session", "nobody")


@callback(
    Output("who-socket", "children"),
    Input("ask-socket", "n_clicks"),
    websocket=True,
    prevent_initial_call=True,
)
def who_over_the_socket(n_clicks):
    return "socket: " + callback_context.cookies.get("session", "nobody")
