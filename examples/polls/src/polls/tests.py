"""The app against a real PostgreSQL or MariaDB (Django's test runner makes test_polls)."""
import json
import os
import subprocess
import sys
import threading

from django.db import connection
from django.test import Client, SimpleTestCase, TestCase, TransactionTestCase

from polls.models import Choice, Question


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


class QuestionApiTests(TestCase):
    def test_an_empty_poll_lists_no_questions(self):
        response = self.client.get("/api/questions")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"questions": []})

    def test_a_created_question_is_listed_with_its_choices_and_no_votes(self):
        created = post_json(self.client, "/api/questions/new", {"text": "Tabs or spaces?", "choices": ["tabs", "spaces"]})
        self.assertEqual(created.status_code, 201)
        listed = self.client.get("/api/questions").json()["questions"]
        self.assertEqual(len(listed), 1)
        self.assertEqual([c["text"] for c in listed[0]["choices"]], ["tabs", "spaces"])
        self.assertEqual(listed[0]["total_votes"], 0)

    def test_a_question_needs_two_choices(self):
        response = post_json(self.client, "/api/questions/new", {"text": "Yes?", "choices": ["yes"]})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(Question.objects.count(), 0)

    def test_malformed_json_is_a_400_not_a_500(self):
        response = self.client.post("/api/questions/new", data="{", content_type="application/json")
        self.assertEqual(response.status_code, 400)

    def test_voting_counts_and_a_choice_of_another_question_is_404(self):
        first = Question.objects.create(text="First?")
        second = Question.objects.create(text="Second?")
        choice = first.choices.create(text="a")
        other = second.choices.create(text="b")
        self.assertEqual(self.client.post(f"/api/questions/{first.id}/choices/{choice.id}/vote").json()["votes"], 1)
        self.assertEqual(self.client.post(f"/api/questions/{first.id}/choices/{choice.id}/vote").json()["votes"], 2)
        self.assertEqual(self.client.post(f"/api/questions/{first.id}/choices/{other.id}/vote").status_code, 404)
        self.assertEqual(first.total_votes(), 2)

    def test_the_index_shows_questions_newest_first(self):
        Question.objects.create(text="Older?")
        Question.objects.create(text="Newer?")
        self.assertEqual(self.client.get("/").content.decode().splitlines(), ["Newer? (0 votes)", "Older? (0 votes)"])


class DatabaseTests(TransactionTestCase):
    def test_health_reports_the_database_server(self):
        health = Client().get("/api/health").json()
        self.assertEqual(health["status"], "ok")
        # PostgreSQL's version() starts with its name; MariaDB's holds it.
        expected = {"postgresql": "PostgreSQL ", "mysql": "MariaDB"}[connection.vendor]
        self.assertIn(expected, health["database"], health)
        self.assertEqual(connection.vendor, os.environ.get("POLLS_DB_ENGINE", "postgresql"))

    def test_concurrent_votes_are_not_lost(self):
        question = Question.objects.create(text="Race?")
        choice = question.choices.create(text="x")
        url = f"/api/questions/{question.id}/choices/{choice.id}/vote"

        def vote():
            for _ in range(10):
                Client().post(url)
            connection.close()

        threads = [threading.Thread(target=vote) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(Choice.objects.get(pk=choice.pk).votes, 40)


# A worker's end as gunicorn's arbiter runs it: the hook in the `finally`
# that the worker's SystemExit passes through. What Python's teardown would
# do shows as "torn down".
WORKER_END = """
import atexit, sys
from polls import gunicorn_conf
atexit.register(print, " torn down")
print("served", end="")
try:
    {end}
finally:
    gunicorn_conf.worker_exit(None, None)
"""


class GunicornWorkerExitTests(SimpleTestCase):
    def end_worker(self, end):
        script = WORKER_END.format(end=end)
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    def test_a_worker_ends_without_teardown_with_its_status_and_output(self):
        for status in (0, 3):
            ended = self.end_worker(f"sys.exit({status})")
            self.assertEqual((ended.returncode, ended.stdout), (status, "served"), ended.stderr)

    def test_a_worker_ending_otherwise_is_left_to_python(self):
        ended = self.end_worker("raise RuntimeError('boom')")
        self.assertEqual((ended.returncode, ended.stdout), (1, "served torn down\n"))
        self.assertIn("RuntimeError: boom", ended.stderr)
