"""Write the two small task datasets the headless benchmark trains on (deterministic; rerun to regenerate).

    python benchmarks/tasks/make_tasks.py     # -> booking_json.jsonl, ticket_labels.jsonl next to this file

- booking_json: a guest's booking message -> JSON with name, party_size, day and time (a fixed answer format);
- ticket_labels: a support ticket -> one of billing / shipping / technical / account (a label task).
The identity task uses the shipped `tools/demo/identity_ada.jsonl`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST = ["Maria", "Tom", "Aisha", "Kenji", "Lena", "Omar", "Priya", "Lucas", "Sofia", "Jonas", "Chen", "Fatima",
         "Mateo", "Hanna", "Ravi", "Elif", "Noah", "Yara", "Ivan", "Grace"]
LAST = ["Lopez", "Becker", "Khan", "Sato", "Novak", "Haddad", "Patel", "Silva", "Rossi", "Berg", "Wang", "Diallo",
        "Garcia", "Meyer", "Iyer", "Kaya", "Brown", "Nasser", "Petrov", "Okafor"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TIMES = ["6pm", "6:30pm", "7pm", "7:30pm", "8pm", "8:30pm", "12pm", "1pm", "12:30pm", "9pm"]
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
BOOKING = [
    "Hi, this is {name}. I'd like to book a table for {n} on {day} at {time}.",
    "Table for {n_word} please, {day} {time}. Name: {name}",
    "{name} here - can we get a table for {n} people this {day} around {time}?",
    "hello! reservation for {n_word} under {name}, {day} at {time} if possible",
    "Could you reserve {day} at {time} for a party of {n}? It's {name}.",
    "We are {n} and would love to come {day}, {time}. Booking name {name}. Thanks!",
    "Booking request: {name}, {n} guests, {day}, {time}.",
    "hi there, {name} again. {n_word} of us on {day}, {time} works best",
]
TICKETS = {
    "billing": ["I was charged twice for my last order", "Why is there an extra fee on my invoice?",
                "Can I get a refund for the annual plan?", "My card was billed after I cancelled",
                "The receipt shows the wrong VAT number", "How do I change the card you charge each month?",
                "You took {amt} euros but the price said less", "I need an invoice with my company name on it",
                "The discount code was not applied to my payment", "Please stop charging my old credit card"],
    "shipping": ["My parcel has not arrived after {d} days", "The tracking number does not work",
                 "Can you ship to {country}?", "The box arrived damaged and wet", "Where is my order, it says shipped",
                 "I got someone else's package", "How long does delivery to {country} take?",
                 "The courier left my order at the wrong address", "Can I change the delivery address now?",
                 "Only one of my {d} items was delivered"],
    "technical": ["The app crashes when I open settings", "I can't upload a photo, it says error {code}",
                  "The page keeps loading forever on my phone", "Sync stopped working after the update",
                  "The export button does nothing in Firefox", "I get error {code} when I save",
                  "Notifications are not showing on Android", "The dashboard is blank since this morning",
                  "The search returns nothing even for exact names", "Video playback stutters on the web app"],
    "account": ["I forgot my password and the reset mail never comes", "How do I delete my account?",
                "I want to change the email on my account", "Someone else logged into my account",
                "Can I merge my two accounts?", "My account is locked after {d} tries",
                "How do I add a second user to my profile?", "I can't turn off two-factor login",
                "Please change the name on my profile", "I never signed up but got a welcome email"],
}
OPENERS = ["", "Hi, ", "Hello team, ", "hey - ", "Urgent: ", "Good morning. ", "Quick question: "]
CLOSERS = ["", " Thanks.", " Please help!", " Regards, {name}", " thx", " What should I do?"]
COUNTRIES = ["Norway", "Canada", "Chile", "Japan", "Kenya", "Portugal"]


def booking(rng: random.Random, i: int) -> dict:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    n, day, time = rng.randint(1, 8), rng.choice(DAYS), rng.choice(TIMES)
    text = BOOKING[i % len(BOOKING)].format(name=name, n=n, n_word=NUMBERS[n], day=day, time=time)
    answer = json.dumps({"name": name, "party_size": n, "day": day, "time": time})
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]}


def ticket(rng: random.Random, label: str, i: int) -> dict:
    body = TICKETS[label][i % len(TICKETS[label])].format(
        amt=rng.randint(5, 90), d=rng.randint(2, 9), country=rng.choice(COUNTRIES), code=rng.randint(100, 599))
    closer = rng.choice(CLOSERS).format(name=rng.choice(FIRST))
    text = f"{rng.choice(OPENERS)}{body}.{closer}".strip()
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": label}]}


def main() -> None:
    rng = random.Random(13)
    rows = [booking(rng, i) for i in range(96)]
    (HERE / "booking_json.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = [ticket(rng, label, i) for i in range(25) for label in TICKETS]
    rng.shuffle(rows)
    (HERE / "ticket_labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
