from django.db import models
from django.db.models import Sum


class Question(models.Model):
    text = models.CharField(max_length=200)
    published = models.DateTimeField(auto_now_add=True)

    def total_votes(self):
        return self.choices.aggregate(total=Sum("votes"))["total"] or 0

    def as_dict(self):
        return {
            "id": self.id,
            "text": self.text,
            "published": self.published.isoformat(),
            "choices": [choice.as_dict() for choice in self.choices.order_by("id")],
            "total_votes": self.total_votes(),
        }


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=200)
    votes = models.PositiveIntegerField(default=0)

    def as_dict(self):
        return {"id": self.id, "text": self.text, "votes": self.votes}
