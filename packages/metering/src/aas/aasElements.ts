import type * as AasCore from "@aas-core-works/aas-core3.0-typescript";
import type { AasCoreModule } from "./aasCore.js";

type T = typeof AasCore.types;
type Element = AasCore.types.ISubmodelElement;

/** Value types an exported property may have. */
export type ValueKind = "string" | "decimal" | "long" | "dateTime" | "unsignedLong";

/**
 * Small builders over aas-core3.0's classes: properties, collections and references with
 * a semantic id, so the submodel code reads like the template it follows. @internal
 */
export interface AasBuilder {
  readonly types: T;
  /** An external reference to a global semantic id (IRI or IRDI). */
  semantic(id: string): AasCore.types.Reference;
  property(
    idShort: string,
    semanticId: string,
    value: string | undefined,
    kind?: ValueKind,
  ): AasCore.types.Property;
  text(idShort: string, semanticId: string, text: string): AasCore.types.MultiLanguageProperty;
  collection(
    idShort: string,
    semanticId: string | undefined,
    value: readonly Element[],
  ): AasCore.types.SubmodelElementCollection;
  submodel(
    id: string,
    idShort: string,
    semanticId: string,
    elements: readonly Element[],
  ): AasCore.types.Submodel;
  /** A model reference to a submodel, for the shell's list of submodels. */
  submodelRef(id: string): AasCore.types.Reference;
}

export function aasBuilder(core: AasCoreModule): AasBuilder {
  const t = core.types;
  const kinds: Record<ValueKind, AasCore.types.DataTypeDefXsd> = {
    string: t.DataTypeDefXsd.String,
    decimal: t.DataTypeDefXsd.Decimal,
    long: t.DataTypeDefXsd.Long,
    dateTime: t.DataTypeDefXsd.DateTime,
    unsignedLong: t.DataTypeDefXsd.UnsignedLong,
  };
  const semantic = (id: string) =>
    new t.Reference(t.ReferenceTypes.ExternalReference, [
      new t.Key(t.KeyTypes.GlobalReference, id),
    ]);
  return {
    types: t,
    semantic,
    property(idShort, semanticId, value, kind = "string") {
      const p = new t.Property(kinds[kind]);
      p.idShort = idShort;
      p.semanticId = semantic(semanticId);
      if (value !== undefined) p.value = value;
      return p;
    },
    text(idShort, semanticId, text) {
      const p = new t.MultiLanguageProperty();
      p.idShort = idShort;
      p.semanticId = semantic(semanticId);
      p.value = [new t.LangStringTextType("en", text)];
      return p;
    },
    collection(idShort, semanticId, value) {
      const c = new t.SubmodelElementCollection();
      c.idShort = idShort;
      if (semanticId !== undefined) c.semanticId = semantic(semanticId);
      c.value = value.length === 0 ? null : [...value];
      return c;
    },
    submodel(id, idShort, semanticId, elements) {
      const s = new t.Submodel(id);
      s.idShort = idShort;
      s.kind = t.ModellingKind.Instance;
      s.semanticId = semantic(semanticId);
      s.submodelElements = elements.length === 0 ? null : [...elements];
      return s;
    },
    submodelRef(id) {
      return new t.Reference(t.ReferenceTypes.ModelReference, [new t.Key(t.KeyTypes.Submodel, id)]);
    },
  };
}
