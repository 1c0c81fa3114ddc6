from rest_framework import serializers

from ..choices import AssistKind
from ..models import IncidentAssist
from ..services import NOTE_MAX_CHARS


class IncidentAssistSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = IncidentAssist
        fields = ("id", "incident", "kind", "kind_label", "note", "created_by", "created_at")


class IncidentAssistCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AssistKind.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_CHARS, default="")
