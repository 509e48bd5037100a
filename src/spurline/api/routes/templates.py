"""Templates: the workflow files of ``examples/`` offered to PySpur's editor
(``/templates/``, see docs/pyspur.md)."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel, Field

from spurline.api._dialect import definition_for_save
from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import RuntimeDep
from spurline.api.routes.workflows import _workflow
from spurline.api.schemas import ErrorResponse, WorkflowResponseSchema
from spurline.exceptions import NotFound
from spurline.store import workflows as wf_q
from spurline.templates import list_templates, load_template

router = SlashRouter(prefix="/templates", tags=["templates"])


class TemplateSchema(BaseModel):
    """A template as PySpur lists it; ``file_name`` identifies it."""

    name: str
    description: str = ""
    features: list[str] = Field(default_factory=list)
    file_name: str = Field(min_length=1)


@router.get("/", response_model=list[TemplateSchema])
async def templates(request: Request) -> Response:
    """Every template, by name."""
    folder = request.app.state.templates_dir
    return OrjsonResponse([t.summary() for t in list_templates(folder)])


@router.post(
    "/instantiate/",
    response_model=WorkflowResponseSchema,
    responses={404: {"model": ErrorResponse, "description": "Template not found"}},
)
async def instantiate(body: TemplateSchema, request: Request, rt: RuntimeDep) -> Response:
    """A new workflow from a template (named as the template)."""
    template = load_template(request.app.state.templates_dir, body.file_name)
    if template is None:
        raise NotFound("Template", body.file_name)
    definition = definition_for_save(template.definition)
    wf = await rt.write(
        lambda c: wf_q.create_workflow(c, template.name, template.description, definition)
    )
    return OrjsonResponse(_workflow(wf))
