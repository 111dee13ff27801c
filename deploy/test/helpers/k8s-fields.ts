import ts from 'typescript';
import { join } from 'node:path';
import { DEPLOY_DIR } from './run.js';

/** Where each kind's type lives in kubernetes-types. */
const KIND_TYPES: Record<string, { module: string; type: string }> = {
  ServiceAccount: { module: 'kubernetes-types/core/v1', type: 'ServiceAccount' },
  DaemonSet: { module: 'kubernetes-types/apps/v1', type: 'DaemonSet' },
  ConfigMap: { module: 'kubernetes-types/core/v1', type: 'ConfigMap' },
  Namespace: { module: 'kubernetes-types/core/v1', type: 'Namespace' },
};

/**
 * Field names checked against the Kubernetes API's own types (kubernetes-types, generated from the
 * OpenAPI spec): each object is walked alongside its Kind's TypeScript type and every key that is
 * not a property of the type at that point (and not an entry of a map such as `labels`) is
 * reported, at any depth (kubernetes-models validates values and required fields but lets unknown
 * fields through). Returns one message per unknown field, empty when every field is known.
 */
export function unknownFieldProblems(objects: unknown[]): string[] {
  const problems: string[] = [];
  const imports = new Set<string>();
  const aliases: string[] = [];
  const targets: (string | undefined)[] = objects.map((object, index) => {
    const kind = (object as { kind?: unknown })?.kind;
    const target = typeof kind === 'string' ? KIND_TYPES[kind] : undefined;
    if (!target) {
      problems.push(`object ${index}: no type known for kind ${JSON.stringify(kind)}`);
      return undefined;
    }
    imports.add(`import type { ${target.type} } from '${target.module}';`);
    aliases.push(`export type Object${index} = ${target.type};`);
    return `Object${index}`;
  });
  const fileName = join(DEPLOY_DIR, '__manifest_fields__.ts');
  const source = [...imports, ...aliases].join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) => (name === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  const checker = program.getTypeChecker();
  const sourceFile = program.getSourceFile(fileName)!;
  for (const diagnostic of ts.getPreEmitDiagnostics(program, sourceFile)) problems.push(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  const aliasTypes = new Map<string, ts.Type>();
  for (const statement of sourceFile.statements) {
    if (ts.isTypeAliasDeclaration(statement)) aliasTypes.set(statement.name.text, checker.getTypeAtLocation(statement.name));
  }

  const walk = (value: unknown, type: ts.Type, path: string): void => {
    if (value === null || typeof value !== 'object') return;
    const shape = checker.getNonNullableType(type);
    if (Array.isArray(value)) {
      const element = checker.getIndexTypeOfType(shape, ts.IndexKind.Number);
      if (!element) {
        problems.push(`${path}: a list where the API expects ${checker.typeToString(shape)}`);
        return;
      }
      value.forEach((item, i) => walk(item, element, `${path}[${i}]`));
      return;
    }
    const mapValue = checker.getIndexTypeOfType(shape, ts.IndexKind.String);
    for (const [key, child] of Object.entries(value)) {
      const property = checker.getPropertyOfType(shape, key);
      if (property) walk(child, checker.getTypeOfSymbol(property), `${path}.${key}`);
      else if (mapValue) walk(child, mapValue, `${path}[${JSON.stringify(key)}]`);
      else problems.push(`${path}.${key}: unknown field (${checker.typeToString(shape)} has ${checker.getPropertiesOfType(shape).map((p) => p.name).join(', ')})`);
    }
  };
  objects.forEach((object, index) => {
    const alias = targets[index];
    if (alias) walk(object, aliasTypes.get(alias)!, `${(object as { kind: string }).kind}`);
  });
  return problems;
}
