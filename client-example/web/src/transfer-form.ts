// The "new transfer" form: a content image (uploaded, or one an earlier run used), styles with blend weights (or a
// fast style model), a preset of the chosen engine, optional size and steps, Start.
import { ApiError, connection, execute, uploadImage } from './api.ts';
import { h, img, replace } from './dom.ts';
import { readRun, type ImageData } from './model.ts';
import { readFragment, type ResultOf, type VariablesOf } from '../../graphql.ts';
import { errorDetail } from '../../typed-errors.ts';
import { Catalog, History, ImageFields, PrepareStyleModel, StartTransfer, UploadStyle } from '../../operations.ts';

type CatalogData = ResultOf<typeof Catalog>;
type Engine = 'GATYS' | 'FAST';
type TransferInput = VariablesOf<typeof StartTransfer>['input'];

interface Content {
  id: string;
  url: string;
  label: string;
}

export class TransferForm {
  readonly element: HTMLFormElement;
  private catalog: CatalogData | null = null;
  private recentContents: (ImageData & { label: string })[] = [];
  private content: Content | null = null;
  private engine: Engine = 'GATYS';
  /** Selected styles and their blend weights (the server normalises them to sum to 1). */
  private readonly styleWeights = new Map<string, number>();
  private styleModelId: string | null = null;
  /** Stops re-reading the catalogue on reconnection. */
  private readonly stopReloading: () => void;

  private readonly ui = {
    contentFile: h('input', { type: 'file', name: 'content-file', accept: 'image/*' }),
    contentPreview: h('div', { class: 'content-preview' }),
    recent: h('div', { class: 'tiles small' }),
    engineGatys: h('input', { type: 'radio', name: 'engine', value: 'GATYS', checked: true }),
    engineFast: h('input', { type: 'radio', name: 'engine', value: 'FAST' }),
    styles: h('div', { class: 'tiles', dataset: { role: 'styles' } }),
    styleName: h('input', { type: 'text', name: 'style-name', placeholder: 'New style: name', maxLength: 80 }),
    styleFile: h('input', { type: 'file', name: 'style-file', accept: 'image/*' }),
    addStyle: h('button', { type: 'button', textContent: 'Add style' }),
    models: h('div', { class: 'tiles', dataset: { role: 'models' } }),
    makePreviews: h('button', { type: 'button', class: 'link-button' }),
    gatysPanel: h('div', {}),
    fastPanel: h('div', { hidden: true }),
    preset: h('select', { name: 'preset' }),
    presetInfo: h('div', { class: 'muted note' }),
    size: h('input', { type: 'number', name: 'size', min: '8', max: '4096', step: '1', placeholder: 'preset' }),
    steps: h('input', { type: 'number', name: 'steps', min: '1', max: '5000', step: '1', placeholder: 'preset' }),
    stepsField: h('label', {}),
    start: h('button', { type: 'submit', class: 'primary', textContent: 'Start transfer' }),
    message: h('div', { class: 'error', hidden: true, dataset: { role: 'form-error' } }),
  };

  constructor(private readonly onStarted: (runId: string) => void) {
    const { ui } = this;
    replace(ui.stepsField, 'Steps', ui.steps);
    replace(
      ui.gatysPanel,
      ui.styles,
      h(
        'div',
        { class: 'add-style' },
        ui.styleName,
        h('label', { class: 'file-button' }, 'Image…', ui.styleFile),
        ui.addStyle,
      ),
    );
    replace(ui.fastPanel, ui.models, ui.makePreviews);
    this.element = h(
      'form',
      { class: 'transfer-form' },
      h(
        'section',
        { class: 'card' },
        h('h2', {}, '1 · Content'),
        h(
          'div',
          { class: 'content-row' },
          ui.contentPreview,
          h('label', { class: 'file-button' }, 'Upload an image…', ui.contentFile),
        ),
        h('div', { class: 'muted label' }, 'Or reuse one from an earlier run:'),
        ui.recent,
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, '2 · Style'),
        h(
          'div',
          { class: 'segmented' },
          h('label', {}, ui.engineGatys, 'Style images (Gatys)'),
          h('label', {}, ui.engineFast, 'Trained model (fast)'),
        ),
        ui.gatysPanel,
        ui.fastPanel,
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, '3 · Settings'),
        h(
          'div',
          { class: 'settings-row' },
          h('label', {}, 'Preset', ui.preset),
          h('label', {}, 'Size (px)', ui.size),
          ui.stepsField,
        ),
        ui.presetInfo,
        ui.message,
        ui.start,
      ),
    );

    ui.contentFile.addEventListener('change', () => void this.uploadContent());
    ui.styleFile.addEventListener('change', () => {
      const file = ui.styleFile.files?.[0];
      // A name from the file saves typing; the user can still change it.
      if (file && !ui.styleName.value) ui.styleName.value = file.name.replace(/\.[^.]+$/, '').replace(/[_-]+/g, ' ');
    });
    ui.addStyle.addEventListener('click', () => void this.addStyle());
    ui.makePreviews.addEventListener('click', () => void this.makePreviews());
    for (const radio of [ui.engineGatys, ui.engineFast])
      radio.addEventListener('change', () => this.setEngine(radio.value as Engine));
    ui.preset.addEventListener('change', () => this.renderPresetInfo());
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.start();
    });
    // A page opened while the server was down, or a server restarted with other data: read the catalogue again.
    this.stopReloading = connection.onReconnected(() => void this.load());
    void this.load();
  }

  dispose(): void {
    this.stopReloading();
  }

  /** Reads the styles, models, presets and the contents of recent runs. */
  async load(): Promise<void> {
    try {
      const [catalog, history] = await Promise.all([execute(Catalog, {}), execute(History, { first: 30 })]);
      this.catalog = catalog;
      const seen = new Set<string>();
      this.recentContents = [];
      for (const edge of history.runs.edges) {
        const run = readRun(edge.node);
        if (seen.has(run.content.id)) continue;
        seen.add(run.content.id);
        this.recentContents.push({
          ...run.content,
          label: `content of a run from ${new Date(run.queuedAt).toLocaleDateString()}`,
        });
      }
      this.showMessage(null);
      this.render();
    } catch (error) {
      this.showMessage(`Could not load the catalogue: ${(error as Error).message}`);
    }
  }

  private async uploadContent(): Promise<void> {
    const file = this.ui.contentFile.files?.[0];
    if (!file) return;
    this.showMessage(null);
    replace(this.ui.contentPreview, h('span', { class: 'muted' }, `Uploading ${file.name}…`));
    try {
      const image = await uploadImage(file);
      this.content = { id: image.id, url: image.url, label: `${file.name} · ${image.width} × ${image.height}` };
    } catch (error) {
      this.content = null;
      this.showMessage(`${file.name}: ${(error as Error).message}`);
    }
    this.renderContent();
  }

  private async addStyle(): Promise<void> {
    const { styleFile, styleName, addStyle } = this.ui;
    const file = styleFile.files?.[0];
    const name = styleName.value.trim();
    if (!file || !name) return this.showMessage('Choose an image and give the style a name.');
    this.showMessage(null);
    addStyle.disabled = true;
    try {
      // Bytes first (POST /images), then the style that names them: no multipart request needed.
      const image = await uploadImage(file);
      const { uploadStyle } = await execute(UploadStyle, { input: { name, imageId: image.id } });
      if (uploadStyle.__typename !== 'Style')
        return this.showMessage('message' in uploadStyle ? uploadStyle.message : 'Could not add the style.');
      this.styleWeights.set(uploadStyle.id, 1);
      styleName.value = '';
      styleFile.value = '';
      await this.load();
    } catch (error) {
      this.showMessage((error as Error).message);
    } finally {
      addStyle.disabled = false;
    }
  }

  /** Catalogue models have no preview until prepared: make them one at a time, showing each as it comes. */
  private async makePreviews(): Promise<void> {
    const { makePreviews } = this.ui;
    makePreviews.disabled = true;
    try {
      for (const model of this.catalog?.styleModels.filter((m) => !m.preview) ?? []) {
        makePreviews.textContent = `Making the preview of ${model.title}…`;
        const { prepareStyleModel } = await execute(PrepareStyleModel, { id: model.id });
        if (prepareStyleModel.__typename !== 'StyleModel') {
          this.showMessage(
            `${model.title}: ${'message' in prepareStyleModel ? prepareStyleModel.message : 'no preview'}`,
          );
          continue;
        }
        Object.assign(model, { available: prepareStyleModel.available, preview: prepareStyleModel.preview });
        if (this.catalog) this.renderModels(this.catalog);
      }
    } catch (error) {
      this.showMessage((error as Error).message);
    } finally {
      makePreviews.disabled = false;
      if (this.catalog) this.renderModels(this.catalog);
    }
  }

  private setEngine(engine: Engine): void {
    this.engine = engine;
    this.render();
  }

  private async start(): Promise<void> {
    const input = this.input();
    if (typeof input === 'string') return this.showMessage(input);
    this.showMessage(null);
    this.ui.start.disabled = true;
    try {
      const { startTransfer } = await execute(StartTransfer, { input });
      if (startTransfer.__typename === 'Run') {
        this.onStarted(readRun(startTransfer).id);
        void this.load(); // its content is now one to reuse
      } else if ('message' in startTransfer) {
        this.showMessage(errorDetail(startTransfer));
      }
    } catch (error) {
      this.showMessage(error instanceof ApiError ? error.message : String(error));
    } finally {
      this.ui.start.disabled = false;
    }
  }

  /** The mutation's input from the form, or what is missing. */
  private input(): TransferInput | string {
    if (!this.content) return 'Upload or pick a content image first.';
    const presetId = this.ui.preset.value || undefined;
    const size = this.ui.size.valueAsNumber;
    const steps = this.ui.steps.valueAsNumber;
    if (this.engine === 'GATYS') {
      const styles = [...this.styleWeights].map(([styleId, weight]) => ({ styleId, weight }));
      if (styles.length === 0) return 'Pick at least one style.';
      const params = { ...(Number.isFinite(size) ? { size } : {}), ...(Number.isFinite(steps) ? { steps } : {}) };
      return { contentImageId: this.content.id, styles, presetId, params };
    }
    const preset = this.catalog?.presets.find((p) => p.id === presetId);
    if (!this.styleModelId && !preset?.fastParams?.styleModel) return 'Pick a style model.';
    return {
      contentImageId: this.content.id,
      presetId,
      ...(this.styleModelId ? { styleModelId: this.styleModelId } : {}),
      fastParams: Number.isFinite(size) ? { size } : {},
    };
  }

  private showMessage(message: string | null): void {
    this.ui.message.hidden = !message;
    this.ui.message.textContent = message ?? '';
  }

  // ---- rendering -------------------------------------------------------------------------------------------------

  private render(): void {
    const catalog = this.catalog;
    if (!catalog) return;
    const { ui } = this;
    ui.gatysPanel.hidden = this.engine !== 'GATYS';
    ui.fastPanel.hidden = this.engine !== 'FAST';
    ui.stepsField.hidden = this.engine !== 'GATYS';
    this.renderContent();
    this.renderStyles(catalog);
    this.renderModels(catalog);

    // Only presets of the chosen engine; keep the selection if it still applies.
    const presets = catalog.presets.filter((p) => p.engine === this.engine);
    const selected = ui.preset.value;
    replace(
      ui.preset,
      ...presets.map((p) => h('option', { value: p.id, textContent: p.name + (p.builtIn ? '' : ' (custom)') })),
    );
    if (presets.some((p) => p.id === selected)) ui.preset.value = selected;
    this.renderPresetInfo();
  }

  private renderContent(): void {
    const { content } = this;
    replace(
      this.ui.contentPreview,
      content
        ? h('figure', { class: 'thumb large' }, img(content.url, 'content image'), h('figcaption', {}, content.label))
        : h('span', { class: 'muted' }, 'No content image yet.'),
    );
    replace(
      this.ui.recent,
      ...this.recentContents.map((image) => {
        const tile = h('button', { type: 'button', class: 'tile', title: image.label }, img(image.url, image.label));
        tile.classList.toggle('selected', content?.id === image.id);
        tile.addEventListener('click', () => {
          this.content = {
            id: image.id,
            url: image.url,
            label: `${image.width} × ${image.height}, from an earlier run`,
          };
          this.renderContent();
        });
        return tile;
      }),
    );
    if (this.recentContents.length === 0) this.ui.recent.append(h('span', { class: 'muted' }, 'No runs yet.'));
  }

  private renderStyles(catalog: CatalogData): void {
    // Forget selections of styles deleted meanwhile.
    for (const id of this.styleWeights.keys())
      if (!catalog.styles.some((s) => s.id === id)) this.styleWeights.delete(id);
    replace(
      this.ui.styles,
      ...catalog.styles.map((style) => {
        const image = readFragment(ImageFields, style.image);
        const selected = this.styleWeights.has(style.id);
        const weight = h('input', {
          type: 'number',
          min: '0',
          step: '0.1',
          value: String(this.styleWeights.get(style.id) ?? 1),
          title: 'blend weight (normalised over the styles picked)',
        });
        weight.addEventListener('input', () => {
          if (this.styleWeights.has(style.id) && Number.isFinite(weight.valueAsNumber))
            this.styleWeights.set(style.id, weight.valueAsNumber);
        });
        const tile = h(
          'button',
          {
            type: 'button',
            class: `tile${selected ? ' selected' : ''}`,
            title: style.name,
            dataset: { styleName: style.name },
          },
          img(image.url, style.name),
          h('span', {}, style.name),
        );
        tile.addEventListener('click', () => {
          if (this.styleWeights.has(style.id)) this.styleWeights.delete(style.id);
          else this.styleWeights.set(style.id, weight.valueAsNumber || 1);
          this.renderStyles(catalog);
        });
        return h(
          'div',
          { class: 'tile-with-weight' },
          tile,
          h('label', { class: 'weight', hidden: !selected }, 'weight', weight),
        );
      }),
    );
    if (catalog.styles.length === 0)
      this.ui.styles.append(h('span', { class: 'muted' }, 'No styles yet: add one below.'));
  }

  private renderModels(catalog: CatalogData): void {
    const missing = catalog.styleModels.filter((m) => !m.preview).length;
    this.ui.makePreviews.hidden = missing === 0;
    if (!this.ui.makePreviews.disabled) this.ui.makePreviews.textContent = `Show previews (${missing} to make)`;
    replace(
      this.ui.models,
      ...catalog.styleModels.map((model) => {
        const preview = model.preview ? readFragment(ImageFields, model.preview) : null;
        const tile = h(
          'button',
          {
            type: 'button',
            class: `tile${this.styleModelId === model.id ? ' selected' : ''}`,
            title: model.available ? model.title : `${model.title} (fetched on first use)`,
            dataset: { modelName: model.name },
          },
          preview ? img(preview.url, model.title) : h('span', { class: 'placeholder' }, model.name),
          h('span', {}, model.title),
        );
        tile.addEventListener('click', () => {
          this.styleModelId = this.styleModelId === model.id ? null : model.id;
          this.renderModels(catalog);
        });
        return tile;
      }),
    );
  }

  private renderPresetInfo(): void {
    const preset = this.catalog?.presets.find((p) => p.id === this.ui.preset.value);
    const { size, steps, presetInfo } = this.ui;
    const presetSize = preset?.params?.size ?? preset?.fastParams?.size;
    size.placeholder = presetSize ? String(presetSize) : 'preset';
    steps.placeholder = preset?.params?.steps ? String(preset.params.steps) : 'preset';
    presetInfo.textContent = preset?.fastParams?.styleModel
      ? `model ${preset.fastParams.styleModel} unless you pick one`
      : '';
  }
}
