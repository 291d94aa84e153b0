import json

from django.db import connection
from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from polls import __version__
from polls.models import Choice, Question


@require_GET
def index(request):
    lines = [f"{q.text} ({q.total_votes()} votes)" for q in Question.objects.order_by("-published")[:10]]
    return HttpResponse("\n".join(lines) or "no questions yet", content_type="text/plain")


@require_GET
def questions(request):
    return JsonResponse({"questions": [q.as_dict() for q in Question.objects.order_by("id")]})


@csrf_exempt
@require_POST
def create_question(request):
    try:
        body = json.loads(request.body)
        text, choices = body["text"], body["choices"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "expected {\"text\": ..., \"choices\": [...]}"}, status=400)
    if not isinstance(choices, list) or len(choices) < 2:
        return JsonResponse({"error": "a question needs at least two choices"}, status=400)
    question = Question.objects.create(text=text)
    for choice in choices:
        question.choices.create(text=str(choice))
    return JsonResponse(question.as_dict(), status=201)


@csrf_exempt
@require_POST
def vote(request, question_id, choice_id):
    choice = get_object_or_404(Choice, pk=choice_id, question_id=question_id)
    # F() makes the increment one UPDATE, so concurrent votes are not lost.
    Choice.objects.filter(pk=choice.pk).update(votes=F("votes") + 1)
    choice.refresh_from_db()
    return JsonResponse(choice.as_dict())


@require_GET
def health(request):
    with connection.cursor() as cursor:
        cursor.execute("select version()")
        database = cursor.fetchone()[0].split(" on ")[0]
    return JsonResponse({"status": "ok", "version": __version__, "database": database})
